"""textfit: fine-tune a pretrained transformer encoder into a text classifier from a labelled file."""

from __future__ import annotations

from textfit.config.loading import load_config
from textfit.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig
from textfit.errors import ConfigError, DataError, HubError, ModelError, TextfitError
from textfit.estimator import TextClassifier
from textfit.evaluation import EvalReport, evaluate
from textfit.inference.classifier import Classifier, Prediction
from textfit.inference.files import predict_file
from textfit.label_errors import LabelErrors, find_label_errors
from textfit.push import PushResult, push_run
from textfit.push import train_and_push as train
from textfit.training.distill import DistillResult, distill
from textfit.training.train import TrainResult
from textfit.training.tune import TuneResult, tune
from textfit.version import __version__

__all__ = [
    "Classifier",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DistillResult",
    "EvalReport",
    "HubError",
    "LabelErrors",
    "ModelConfig",
    "ModelError",
    "Prediction",
    "PushResult",
    "RunConfig",
    "TextClassifier",
    "TextfitError",
    "TrainConfig",
    "TrainResult",
    "TuneResult",
    "__version__",
    "distill",
    "evaluate",
    "find_label_errors",
    "load_config",
    "predict_file",
    "push_run",
    "train",
    "tune",
]
