"""Task types: single-label, multi-label or regression, told from the label column; the targets of each.

A multi-label cell is a JSON list (`["sports", "politics"]`) or names between a delimiter
(`sports|politics`, with data.label_delimiter); a regression cell is a number. Examples keep each
distinct cell as a label name, so each is parsed once here however many rows share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from textfit.config.choices import TASK_METRICS
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.tables import counted
from textfit.errors import ConfigError, DataError, list_problems

Task = Literal["single_label", "multi_label", "regression"]
# The Hugging Face config's problem_type of each task: it picks the loss (cross-entropy, BCE, MSE).
PROBLEM_TYPES: dict[str, str] = {
    "single_label": "single_label_classification",
    "multi_label": "multi_label_classification",
    "regression": "regression",
}
TASKS_OF_PROBLEM_TYPES = {problem: task for task, problem in PROBLEM_TYPES.items()}
# Characters that may join several labels in one cell; a label column holding one is ambiguous.
LIST_DELIMITERS = ("|", ";")


def label_list(name: str, delimiter: str | None) -> list[str] | None:
    """The labels of one multi-label cell: a JSON list, or the parts between delimiters; else None."""
    if name.startswith("["):
        try:
            value = json.loads(name)
        except ValueError:
            value = None
        if isinstance(value, list) and all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
        ):
            names = (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in value)
            return [item.strip() for item in names if item.strip()]
    if delimiter is not None:
        return [part.strip() for part in name.split(delimiter) if part.strip()]
    return None


def number(name: str) -> float | None:
    """A label name as a finite number; None when it is not one."""
    try:
        value = float(name)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def detect_task(
    names: Sequence[str], configured: str, delimiter: str | None, source: Any
) -> tuple[Task, str | None]:
    """The task of a label column, from its distinct cells, and the delimiter its lists use.

    `auto`: JSON lists, or a configured delimiter, make it multi-label; numbers of which some are
    not whole make it regression; anything else is single-label (whole numbers stay class names).

    Args:
        names: the distinct label cells of the training rows.
        configured: model.task (auto, single_label, multi_label, regression).
        delimiter: data.label_delimiter.
        source: the training file, for the messages.

    Raises:
        ConfigError: `auto`, and cells hold a list delimiter (| or ;) with none configured.
        DataError: regression asked for, and some cells are not numbers.
    """
    if configured == "single_label":
        return "single_label", None
    if configured == "regression":
        bad = [name for name in names if number(name) is None]
        if bad:
            raise DataError(
                f"{source}: regression needs a number in every label cell; "
                f"{counted(len(bad), 'value is', 'values are')} not: "
                f"{list_problems([repr(name) for name in bad])}",
                hint="fix those labels, or pass --task single_label to treat the values as classes",
            )
        return "regression", None
    if configured == "multi_label" or delimiter is not None:
        if delimiter is None:
            found = [d for d in LIST_DELIMITERS if any(d in name for name in names)]
            delimiter = found[0] if len(found) == 1 else None
        return "multi_label", delimiter
    if any(label_list(name, None) is not None for name in names):
        return "multi_label", None
    numbers = [value for value in map(number, names) if value is not None]
    if len(numbers) == len(names) and any(not value.is_integer() for value in numbers):
        return "regression", None
    for mark in LIST_DELIMITERS:
        joined = [name for name in names if mark in name]
        if joined:
            raise ConfigError(
                f"{source}: {counted(len(joined), 'label holds', 'labels hold')} {mark!r} "
                f"(e.g. {joined[0]!r}): several labels per row, or label names with {mark!r} in them?",
                hint=f"pass --task multi_label --label-delimiter '{mark}' for several labels per row, "
                "or --task single_label to keep each cell as one label",
            )
    return "single_label", None


def cell_labels(name: str, delimiter: str | None) -> list[str]:
    """The labels of one multi-label cell: its list (an empty list: no label), else the cell itself."""
    labels = label_list(name, delimiter)
    return labels if labels is not None else [name]


def label_occurrences(task: str, examples: Examples, delimiter: str | None) -> dict[str, int]:
    """Rows per label: per class (single-label), per label of the lists (multi-label); none for regression."""
    if task == "regression":
        return {}
    if task == "single_label":
        return examples.label_counts()
    counts: dict[str, int] = {}
    for name, rows in examples.label_counts().items():
        for label in dict.fromkeys(cell_labels(name, delimiter)):  # a label listed twice counts once
            counts[label] = counts.get(label, 0) + rows
    return counts


def multi_labels(examples: Examples, delimiter: str | None) -> LabelSet:
    """Every label that occurs in the examples' lists, sorted as LabelSet sorts."""
    found: set[str] = set()
    for name in examples.label_counts():
        found.update(cell_labels(name, delimiter))
    return LabelSet.from_labels(found)


def label_matrix(examples: Examples, labels: LabelSet, delimiter: str | None) -> NDArray[np.float32]:
    """Each example's labels as 1 / 0 per label, shape (examples, labels), float (BCE needs floats).

    Raises:
        DataError: naming the rows with a label the model was not trained on.
    """
    label2id = labels.label2id
    by_code = np.zeros((len(examples.label_names), len(labels)), dtype=np.float32)
    unknown_codes = set()
    for code, name in enumerate(examples.label_names):
        for label in cell_labels(name, delimiter):
            if label in label2id:
                by_code[code, label2id[label]] = 1.0
            else:
                unknown_codes.add(code)
    codes = examples.codes
    bad = [i for i in np.flatnonzero(np.isin(codes, list(unknown_codes)))] if unknown_codes else []
    if bad:
        found = [f"{examples.where(int(i))} has {examples.label_names[codes[i]]!r}" for i in bad]
        known = ", ".join(repr(name) for name in labels.names)
        raise DataError(
            f"{examples.source}: {counted(len(bad), 'row has', 'rows have')} a label the model was "
            f"not trained on: {list_problems(found)}.\n  Labels the model knows: {known}",
            hint="fix those labels, or retrain with them in the training file",
        )
    return by_code[codes]


def label_values(examples: Examples) -> NDArray[np.float32]:
    """Each example's label as a number, shape (examples,).

    Raises:
        DataError: naming the rows whose label is not a number.
    """
    by_code = np.asarray([number(name) for name in examples.label_names], dtype=np.float64)
    codes = examples.codes
    bad = np.flatnonzero(np.isnan(by_code[codes]))
    if len(bad):
        found = [f"{examples.where(int(i))} has {examples.label_names[codes[i]]!r}" for i in bad]
        raise DataError(
            f"{examples.source}: {counted(len(bad), 'row has', 'rows have')} a label that is not a "
            f"number: {list_problems(found)}",
            hint="a regression model needs a number in every label cell",
        )
    return by_code[codes].astype(np.float32)


def task_labels(task: str, train: Examples, delimiter: str | None, label_column: str) -> LabelSet:
    """The model's outputs: the classes; every label of the lists; or one output named after the column."""
    if task == "multi_label":
        return multi_labels(train, delimiter)
    if task == "regression":
        return LabelSet((label_column,))
    return LabelSet.from_labels(train.label_counts())


def targets(task: str, examples: Examples, labels: LabelSet, delimiter: str | None) -> Any:
    """What the model learns for each example: a class id, a 1 / 0 row per label, or a number.

    Raises:
        DataError: unknown labels, or (regression) labels that are not numbers.
    """
    if task == "multi_label":
        return label_matrix(examples, labels, delimiter)
    if task == "regression":
        return label_values(examples)
    return labels.encode(examples)


def best_model_metric(metric: str, task: str) -> str:
    """train.metric_for_best_model for this task: the default f1_macro becomes rmse for regression.

    Raises:
        ConfigError: the metric is not one this task reports.
    """
    if task == "regression" and metric == "f1_macro":
        return "rmse"
    allowed = TASK_METRICS[task]
    if metric not in allowed:
        raise ConfigError(
            f"train.metric_for_best_model {metric!r} is not a metric of a {task.replace('_', '-')} task",
            hint=f"choose one of {', '.join(allowed)}",
        )
    return metric
