"""The layout of a run folder: the names textfit writes in it, RUN.partial and RUN.old beside it, its marker.

A run is written to RUN.partial until it is complete; the run it replaces waits in RUN.old meanwhile.
The marker (textfit-run.json, written first) says textfit wrote the folder, so it may be replaced.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from textfit.files import write_json_atomic
from textfit.version import __version__

MARKER = "textfit-run.json"
CONFIG_FILE = "run_config.yaml"
CHECKPOINTS = "checkpoints"
LABEL_ERRORS_FILE = "label_errors.csv"  # textfit train --label-errors: rows whose label is probably wrong
CLASSES_FILE = "classes.json"  # TextClassifier's label values where they are numbers, not names
PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"
# Every name textfit writes at the top of a run folder (train, evaluate, report, export) or of a
# study folder (tune). A folder holding anything else is not replaced, nor deleted.
WRITTEN_NAMES = (
    MARKER,
    CONFIG_FILE,
    CLASSES_FILE,
    "model",
    "metrics.json",
    "log_history.json",
    "predictions-*.parquet",
    "report.html",
    "report-*.html",
    "figures",
    "figures-*",
    "eval-*.json",
    "eval-*.predictions.parquet",
    LABEL_ERRORS_FILE,
    CHECKPOINTS,
    "tensorboard",
    "onnx",
    "onnx.partial",
    "tune_config.yaml",
    "optuna.db",
    "optuna.db-*",  # SQLite's journal
    "trials.csv",
    "trials",
    "best",
    "best.partial",
    "best.old",
)
# A folder without the marker (written before it existed) is textfit's when it holds one of these.
UNMARKED_KEYS = (CONFIG_FILE, "optuna.db")

Kind = Literal["train", "tune"]


def partial_dir_of(run_dir: Path) -> Path:
    """Where a run is written until it is complete: RUN.partial beside RUN."""
    return run_dir.with_name(run_dir.name + PARTIAL_SUFFIX)


def old_dir_of(run_dir: Path) -> Path:
    """Where the run that run_dir held waits while a new one takes its place: RUN.old beside RUN."""
    return run_dir.with_name(run_dir.name + OLD_SUFFIX)


def write_marker(folder: Path, kind: Kind) -> None:
    """Mark folder as written by textfit (first, before anything else goes in), so it may be replaced."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(folder / MARKER, {"textfit": __version__, "kind": kind, "created": stamp})


def has_marker(folder: Path) -> bool:
    """Whether folder holds a readable textfit marker."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and "textfit" in marker


def saved_settings(run_dir: Path) -> dict[str, Any]:
    """The run's run_config.yaml as read, without checking it; empty for a model folder or a damaged file."""
    import yaml

    try:
        saved = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return saved if isinstance(saved, dict) else {}
