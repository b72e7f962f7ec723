"""Task types: single-label, multi-label or regression, told from the label column; the targets of each.

Each task type is one `Task` object (SINGLE_LABEL, MULTI_LABEL, REGRESSION; by name in TASKS), which
owns what the data layer knows of it: its names, labels, targets, split and metrics. The layers above
keep their per-task behaviour in one table each, keyed by the Task (tests/test_task_types.py lists them;
ARCHITECTURE.md says where a new task type goes).
A multi-label cell is a JSON list (`["sports", "politics"]`) or names between a delimiter
(`sports|politics`, with data.label_delimiter); a regression cell is a number. Examples keep each
distinct cell as a label name, so each is parsed once here however many rows share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config.choices import TASK_METRICS
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.tables import counted
from textfit.errors import ConfigError, DataError, list_problems

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


def cell_labels(name: str, delimiter: str | None) -> list[str]:
    """The labels of one multi-label cell: its list (an empty list: no label), else the cell itself."""
    labels = label_list(name, delimiter)
    return labels if labels is not None else [name]


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


# ---------------------------------------------------------------- the task types


@dataclass(frozen=True)
class Task:
    """A task type: what the data layer knows of it. One instance each: SINGLE_LABEL, MULTI_LABEL, REGRESSION.

    Attributes:
        name: as model.task, config.json and metrics.json spell it ("single_label").
        title: as messages and reports spell it ("single-label").
        problem_type: the Hugging Face config's problem_type; it picks the loss (cross-entropy, BCE, MSE).
        default_metric: train.metric_for_best_model in place of the default f1_macro, where the
            task does not report f1_macro.
        headline_metric: the metric an export check and a summary lead with.
        stratified: the validation share held out of the training rows is stratified by class.
        exclusive: one class per row (softmax): class weights and other losses apply; 2 classes needed.
        has_lists: a cell lists labels (JSON, or joined by data.label_delimiter), each with a threshold.
    """

    name: str
    title: str
    problem_type: str
    default_metric: str
    headline_metric: str
    stratified: bool = False
    exclusive: bool = False
    has_lists: bool = False

    def __str__(self) -> str:
        return self.name

    @property
    def metrics(self) -> tuple[str, ...]:
        """What train.metric_for_best_model may name for this task (config.choices.TASK_METRICS)."""
        return TASK_METRICS[self.name]

    def best_model_metric(self, metric: str) -> str:
        """train.metric_for_best_model for this task: f1_macro (the default) becomes default_metric if absent.

        Raises:
            ConfigError: the metric is not one this task reports.
        """
        if metric == "f1_macro" and metric not in self.metrics:
            return self.default_metric
        if metric not in self.metrics:
            raise ConfigError(
                f"train.metric_for_best_model {metric!r} is not a metric of a {self.title} task",
                hint=f"choose one of {', '.join(self.metrics)}",
            )
        return metric

    def given(self, names: Sequence[str], delimiter: str | None, source: Any) -> tuple[Task, str | None]:
        """This task, as model.task names it for these label cells, and the delimiter its lists use."""
        return self, None

    def labels(self, train: Examples, delimiter: str | None, label_column: str) -> LabelSet:
        """The model's outputs: the classes; every label of the lists; or one named after the column."""
        return LabelSet.from_labels(train.label_counts())

    def targets(self, examples: Examples, labels: LabelSet, delimiter: str | None) -> Any:
        """What the model learns for each example: a class id, a 1 / 0 row per label, or a number.

        Raises:
            DataError: unknown labels, or (regression) labels that are not numbers.
        """
        return labels.encode(examples)

    def occurrences(self, examples: Examples, delimiter: str | None) -> dict[str, int]:
        """Rows per label: per class, or per label of the lists (multi-label); none for regression."""
        return examples.label_counts()

    def label_key(self, delimiter: str | None) -> Callable[[str], str]:
        """What makes two label cells the same: the cell; the set of labels of a list; the number."""
        return lambda name: name

    def scores(self, logits: NDArray[Any]) -> NDArray[Any]:
        """The model's logits, shape (n, outputs), as scores: softmax probabilities; sigmoids; the values."""
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


class SingleLabel(Task):
    """One class per row (the default)."""


class MultiLabel(Task):
    """Any number of labels per row, each decided by its own threshold."""

    def given(self, names: Sequence[str], delimiter: str | None, source: Any) -> tuple[Task, str | None]:
        """Multi-label; without a configured delimiter, the one list delimiter the cells hold (if one)."""
        if delimiter is None:
            found = [d for d in LIST_DELIMITERS if any(d in name for name in names)]
            delimiter = found[0] if len(found) == 1 else None
        return self, delimiter

    def labels(self, train: Examples, delimiter: str | None, label_column: str) -> LabelSet:
        """Every label of the lists."""
        return multi_labels(train, delimiter)

    def targets(self, examples: Examples, labels: LabelSet, delimiter: str | None) -> Any:
        """A 1 / 0 row per label (see `label_matrix`)."""
        return label_matrix(examples, labels, delimiter)

    def occurrences(self, examples: Examples, delimiter: str | None) -> dict[str, int]:
        """Rows per label of the lists."""
        counts: dict[str, int] = {}
        for name, rows in examples.label_counts().items():
            for label in dict.fromkeys(cell_labels(name, delimiter)):  # a label listed twice counts once
                counts[label] = counts.get(label, 0) + rows
        return counts

    def label_key(self, delimiter: str | None) -> Callable[[str], str]:
        """The set of labels of a list."""
        return lambda name: json.dumps(sorted(set(cell_labels(name, delimiter))), ensure_ascii=False)

    def scores(self, logits: NDArray[Any]) -> NDArray[Any]:
        """Each label's sigmoid probability (in the logits' dtype)."""
        return 1.0 / (1.0 + np.exp(-logits))  # type: ignore[no-any-return]


class Regression(Task):
    """A number per row."""

    def given(self, names: Sequence[str], delimiter: str | None, source: Any) -> tuple[Task, str | None]:
        """Regression, where every cell is a number.

        Raises:
            DataError: naming the cells that are not numbers.
        """
        bad = [name for name in names if number(name) is None]
        if bad:
            raise DataError(
                f"{source}: regression needs a number in every label cell; "
                f"{counted(len(bad), 'value is', 'values are')} not: "
                f"{list_problems([repr(name) for name in bad])}",
                hint="fix those labels, or pass --task single_label to treat the values as classes",
            )
        return self, None

    def labels(self, train: Examples, delimiter: str | None, label_column: str) -> LabelSet:
        """One output, named after the label column."""
        return LabelSet((label_column,))

    def targets(self, examples: Examples, labels: LabelSet, delimiter: str | None) -> Any:
        """A number per row (see `label_values`)."""
        return label_values(examples)

    def occurrences(self, examples: Examples, delimiter: str | None) -> dict[str, int]:
        """None: a number is not a label."""
        return {}

    def label_key(self, delimiter: str | None) -> Callable[[str], str]:
        """The value of a number (a cell that is not one stays itself)."""
        return lambda name: name if (value := number(name)) is None else f"{value!r}"

    def scores(self, logits: NDArray[Any]) -> NDArray[Any]:
        """The values themselves."""
        return logits


SINGLE_LABEL = SingleLabel(
    "single_label", "single-label", "single_label_classification", "f1_macro", "f1_macro", True, True
)
MULTI_LABEL = MultiLabel(
    "multi_label", "multi-label", "multi_label_classification", "f1_macro", "f1_micro", has_lists=True
)
REGRESSION = Regression("regression", "regression", "regression", "rmse", "rmse")
TASKS: dict[str, Task] = {task.name: task for task in (SINGLE_LABEL, MULTI_LABEL, REGRESSION)}
# The task of a run whose files name none (runs trained before multi-label and regression).
DEFAULT_TASK = SINGLE_LABEL


def task_named(name: str) -> Task:
    """The task of a name as config.json and metrics.json store it ("single_label").

    Raises:
        ConfigError: no task has that name.
    """
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}", hint=f"choose one of {', '.join(TASKS)}")
    return TASKS[name]


def task_of_problem_type(problem_type: str | None) -> Task:
    """The task of a Hugging Face config's problem_type; single-label when it names none textfit knows."""
    found = [task for task in TASKS.values() if task.problem_type == problem_type]
    return found[0] if found else DEFAULT_TASK


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
    if configured != "auto":
        return task_named(configured).given(names, delimiter, source)
    if delimiter is not None:
        return MULTI_LABEL.given(names, delimiter, source)
    if any(label_list(name, None) is not None for name in names):
        return MULTI_LABEL, None
    numbers = [value for value in map(number, names) if value is not None]
    if len(numbers) == len(names) and any(not value.is_integer() for value in numbers):
        return REGRESSION, None
    for mark in LIST_DELIMITERS:
        joined = [name for name in names if mark in name]
        if joined:
            raise ConfigError(
                f"{source}: {counted(len(joined), 'label holds', 'labels hold')} {mark!r} "
                f"(e.g. {joined[0]!r}): several labels per row, or label names with {mark!r} in them?",
                hint=f"pass --task multi_label --label-delimiter '{mark}' for several labels per row, "
                "or --task single_label to keep each cell as one label",
            )
    return SINGLE_LABEL, None
