"""Experiment trackers (train.report_to): their packages checked up front, and where their files go."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from textfit.config.choices import TRACKERS
from textfit.errors import ConfigError

logger = logging.getLogger(__name__)


def check_trackers(report_to: list[str]) -> None:
    """Check that the package of each experiment tracker is installed, before any data is read.

    Raises:
        ConfigError: naming the tracker and the pip command that installs it.
    """
    for name in report_to:
        if name in TRACKERS:
            modules, install = TRACKERS[name]
            if not any(importlib.util.find_spec(module) for module in modules):
                raise ConfigError(
                    f"--report-to {name} needs the package {modules[0]}, which is not installed",
                    hint=install,
                )


def use_tensorboard_folder(trainer: Any, folder: Path) -> None:
    """Send the Trainer's TensorBoard events to the run folder (unless $TENSORBOARD_LOGGING_DIR says where).

    Its default, a runs/ folder inside the checkpoints, would be removed with them.
    """
    from transformers.integrations.integration_utils import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and not os.environ.get("TENSORBOARD_LOGGING_DIR"):
            callback.logging_dir = str(folder)


def use_mlflow_store() -> None:
    """Point mlflow at the local file store ./mlruns unless $MLFLOW_TRACKING_URI (or the caller) chose one.

    A file store works offline with mlflow-skinny alone; mlflow 3.7+ defaults to sqlite:///mlflow.db
    instead, which needs SQLAlchemy, and refuses a file store unless $MLFLOW_ALLOW_FILE_STORE is
    true: textfit sets it (when unset) for a file store. Telemetry stays off unless
    $MLFLOW_DISABLE_TELEMETRY says otherwise: textfit runs offline.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI") and not mlflow.is_tracking_uri_set():  # type: ignore[no-untyped-call]
        mlflow.set_tracking_uri(Path("mlruns").resolve().as_uri())
    uri = mlflow.get_tracking_uri()
    if "://" not in uri or uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    logger.info("mlflow: logging to %s", uri)
