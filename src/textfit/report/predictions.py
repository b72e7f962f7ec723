"""The predictions tables of a split, as Parquet: written by train and evaluate, read by the report.

Each row is one example with its data row, texts, true label and prediction; the tables of each
task (WRITERS; write_task_predictions) differ in the prediction columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from textfit.data.examples import Examples
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task
from textfit.errors import ModelError
from textfit.files import write_atomic

# The columns each task's predictions table must have.
PREDICTION_COLUMNS: dict[Task, tuple[str, ...]] = {
    SINGLE_LABEL: ("row", "text", "label", "predicted_label", "confidence"),
    MULTI_LABEL: ("row", "text", "label", "true", "probabilities"),
    REGRESSION: ("row", "text", "label", "value", "predicted"),
}


def example_columns(examples: Examples) -> dict[str, Any]:
    """The columns every predictions table starts with: row (1-based), text, text_pair, label."""
    columns: dict[str, Any] = {
        "row": pa.array(np.asarray(examples.rows, dtype=np.int64) + 1),
        "text": examples.column("text"),
    }
    if examples.text_pairs is not None:
        columns["text_pair"] = examples.column("text_pair")
    columns["label"] = pa.array(examples.labels, pa.string())
    return columns


def _write_table(path: Path, table: pa.Table) -> Path:
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))
    return path


def write_predictions(
    path: Path, examples: Examples, names: Sequence[str], probabilities: NDArray[np.floating[Any]]
) -> Path:
    """Save each example with its true and predicted label and class probabilities, as Parquet.

    Columns: row (1-based data row in its file), text, text_pair (pair tasks), label, predicted_label,
    confidence (the predicted label's probability), probabilities (one per class, in `names` order).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32).reshape(len(examples), len(names))
    predicted = probabilities.argmax(axis=1)
    columns = example_columns(examples)
    columns["predicted_label"] = pa.array([names[i] for i in predicted.tolist()], pa.string())
    columns["confidence"] = pa.array(probabilities.max(axis=1, initial=0.0))
    columns["probabilities"] = pa.FixedSizeListArray.from_arrays(pa.array(probabilities.ravel()), len(names))
    table = pa.table(columns).replace_schema_metadata({"textfit.labels": json.dumps(list(names))})
    return _write_table(path, table)


def _write_multi_label(
    path: Path,
    examples: Examples,
    names: Sequence[str],
    scores: NDArray[np.floating[Any]],
    truth: Any,
    thresholds: Sequence[float] | None,
) -> Path:
    """Multi-label: true (1 / 0 per label) and probabilities (per label), the thresholds in the metadata."""
    columns = example_columns(examples)
    width = len(names)
    true = np.asarray(truth, dtype=np.int8).reshape(len(examples), width)
    probabilities = np.asarray(scores, dtype=np.float32).reshape(len(examples), width)
    columns["true"] = pa.FixedSizeListArray.from_arrays(pa.array(true.ravel()), width)
    columns["probabilities"] = pa.FixedSizeListArray.from_arrays(pa.array(probabilities.ravel()), width)
    metadata = {
        "textfit.labels": json.dumps(list(names)),
        "textfit.task": MULTI_LABEL.name,
        "textfit.thresholds": json.dumps(list(thresholds) if thresholds is not None else [0.5] * width),
    }
    return _write_table(path, pa.table(columns).replace_schema_metadata(metadata))


def _write_regression(
    path: Path,
    examples: Examples,
    names: Sequence[str],
    scores: NDArray[np.floating[Any]],
    truth: Any,
    thresholds: Sequence[float] | None,
) -> Path:
    """Regression: value (the true number) and predicted."""
    columns = example_columns(examples)
    columns["value"] = pa.array(np.asarray(truth, dtype=np.float64).ravel())
    columns["predicted"] = pa.array(np.asarray(scores, dtype=np.float64).reshape(len(examples), -1)[:, 0])
    metadata = {"textfit.labels": json.dumps(list(names)), "textfit.task": REGRESSION.name}
    return _write_table(path, pa.table(columns).replace_schema_metadata(metadata))


def _write_single_label(
    path: Path,
    examples: Examples,
    names: Sequence[str],
    scores: NDArray[np.floating[Any]],
    truth: Any,
    thresholds: Sequence[float] | None,
) -> Path:
    return write_predictions(path, examples, names, scores)


# How each task's predictions table is written:
# (path, examples, names, scores, truth, thresholds) -> path.
WRITERS: dict[Task, Callable[..., Path]] = {
    SINGLE_LABEL: _write_single_label,
    MULTI_LABEL: _write_multi_label,
    REGRESSION: _write_regression,
}


def write_task_predictions(
    path: Path,
    task: Task,
    examples: Examples,
    names: Sequence[str],
    scores: NDArray[np.floating[Any]],
    truth: Any,
    thresholds: Sequence[float] | None = None,
) -> Path:
    """Save each example of a split with its truth and prediction, as Parquet (see WRITERS).

    Columns: row (1-based data row in its file), text, text_pair (pair tasks), label (the cell);
    single-label: see `write_predictions`; multi-label: true (1 / 0 per label) and probabilities
    (per label, in `names` order), the thresholds in the metadata; regression: value (the true
    number) and predicted.
    """
    return WRITERS[task](path, examples, names, scores, truth, thresholds)


def read_predictions(path: Path, task: Task = SINGLE_LABEL) -> pa.Table | None:
    """A predictions table of a task (as written here); None when there is none.

    Raises:
        ModelError: the file cannot be read, or lacks a column its task needs.
    """
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise ModelError(
            f"{path} is damaged: {err}", hint="train (or evaluate) again to rewrite it"
        ) from None
    missing = set(PREDICTION_COLUMNS[task]) - set(table.column_names)
    if missing:
        raise ModelError(
            f"{path} is damaged: it has no column {', '.join(sorted(missing))}",
            hint="train (or evaluate) again to rewrite it",
        )
    return table
