"""textfit: fine-tune a pretrained transformer encoder into a text classifier from a labelled file."""

from __future__ import annotations

from textfit.config import DataConfig, ModelConfig, RunConfig, TrainConfig, load_config
from textfit.errors import ConfigError, DataError, HubError, ModelError, TextfitError
from textfit.evaluation import EvalReport, evaluate
from textfit.hub_push import PushResult, push_run
from textfit.predict import Classifier, Prediction, predict_file
from textfit.train import TrainResult, train
from textfit.tune import TuneResult, tune

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "ConfigError",
    "DataConfig",
    "DataError",
    "EvalReport",
    "HubError",
    "ModelConfig",
    "ModelError",
    "Prediction",
    "PushResult",
    "RunConfig",
    "TextfitError",
    "TrainConfig",
    "TrainResult",
    "TuneResult",
    "__version__",
    "evaluate",
    "load_config",
    "predict_file",
    "push_run",
    "train",
    "tune",
]
