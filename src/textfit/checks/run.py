"""Run the pre-flight checks: `check_data` reads the tables of a config; `check_splits`, loaded splits.

`train()` runs `check_splits` before training; `textfit check` runs `check_data`, which loads the
splits through `load_splits` (the one path) with a problem collector: what loading would raise
becomes a failed check, and the checks of the rows go on where loading could.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.checks.base import LENGTH_LIMIT, Check, CheckReport, imbalance_check
from textfit.checks.groups import groups_check
from textfit.checks.labels import labels_check
from textfit.checks.rows import (
    columns_check,
    conflicts_check,
    distinct_keys,
    duplicates_check,
    empty_check,
    length_check,
    overlap_check,
    rows_check,
)
from textfit.checks.tasks import multi_label_checks, target_check
from textfit.config.schema import RunConfig
from textfit.data.splits import LoadProblems, Splits, load_splits
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task
from textfit.errors import DataError, ModelError
from textfit.modeling import load_tokenizer, resolve_model
from textfit.tokenization import count_tokens

__all__ = ["check_data", "check_splits"]


def _class_checks(splits: Splits) -> list[Check]:
    return [labels_check(splits), imbalance_check(splits.train.label_counts())]


def _target_checks(splits: Splits) -> list[Check]:
    return [target_check(splits)]


# The label checks of each task: rows per class and imbalance; per label of the lists; the targets' spread.
LABEL_CHECKS: dict[Task, Callable[[Splits], list[Check]]] = {
    SINGLE_LABEL: _class_checks,
    MULTI_LABEL: multi_label_checks,
    REGRESSION: _target_checks,
}


def check_data(cfg: RunConfig, tokenizer: Any = None) -> CheckReport:
    """Read the tables of cfg.data and check them, without training.

    What `load_splits` would raise (an unreadable file, a missing column, empty texts or labels
    without drop_invalid, a single class, a split that cannot be stratified, validation or test
    labels the training file lacks) becomes a failed check with the message and its hint. Rows with
    an empty text or label are left out of the other checks, so that one run lists every problem.

    Args:
        cfg: the run configuration: its data section, model (whose tokenizer counts the tokens,
            loaded when `tokenizer` is None), max_length, and the seed of the validation split.
        tokenizer: a tokenizer to count tokens with, instead of cfg.model's.

    Returns:
        The report; `report.failed` lists the failures.
    """
    if cfg.data.dataset is None and cfg.data.train_file is None:
        raise DataError("no training file given", hint="textfit check data.csv (or --dataset NAME)")
    problems = LoadProblems()
    splits = load_splits(cfg.data, cfg.train.seed, cfg.model.task, problems)
    early = []  # failures found while loading
    for problem in problems.found:
        early.append(Check(problem.step, "fail", problem.error.message, hint=problem.error.hint))
        if problem.rows_left_out:
            early[-1].details.append("the other checks ran without these rows")
    detected = None if problems.task is None else cfg.model.task == "auto"
    if splits is None:
        return CheckReport(early, problems.task, problems.label_delimiter, detected)
    if tokenizer is None:
        try:
            tokenizer = load_tokenizer(resolve_model(cfg.model.name), cfg.model)
        except ModelError as err:
            early.append(Check("length", "fail", err.message, hint=err.hint))
    later = check_splits(splits, tokenizer, cfg.model.max_length, group_column=cfg.data.group_column)
    return CheckReport(_merge(early, later.checks), splits.task, splits.label_delimiter, detected)


def _merge(early: list[Check], later: list[Check]) -> list[Check]:
    """The failures found while loading, each before the check of its name (read, split: first)."""
    names = {check.name for check in later}
    merged = [check for check in early if check.name not in names]
    for check in later:
        same = [failure for failure in early if failure.name == check.name]
        merged += same
        if not (same and check.name == "empty"):  # the failure names the rows; the count adds nothing
            merged.append(check)
    return merged


def check_splits(
    splits: Splits,
    tokenizer: Any = None,
    max_length: int = 256,
    *,
    group_column: str | None = None,
    lengths: NDArray[np.int64] | None = None,
    lengths_cut: bool = False,
) -> CheckReport:
    """Check splits already loaded (see the module constants for the thresholds).

    Args:
        splits: from `load_splits`.
        tokenizer: counts the tokens of the training texts (up to LENGTH_LIMIT); None, and no
            `lengths`: no length check.
        max_length: tokens kept per text in training.
        group_column: the name of the examples' "group" column, for the messages.
        lengths: the token count of each training example, instead of counting with `tokenizer`.
        lengths_cut: `lengths` were cut at max_length (a tokenized dataset's `length` column).

    Returns:
        The report, in the order: columns, rows, empty, labels, imbalance, duplicates, overlap,
        conflicts, length, groups. Multi-label tables count each label of a list (and the labels
        per row); regression tables have a `target` check (the values' spread) in place of labels
        and imbalance.
    """
    train = splits.train
    train_keys = distinct_keys(train)  # shared by the duplicates and the overlap check
    classes = LABEL_CHECKS[splits.task](splits)
    checks = [
        columns_check(splits, group_column),
        rows_check(splits),
        empty_check(splits),
        *classes,
        duplicates_check(train, train_keys),
        overlap_check(splits, train_keys),
        conflicts_check(splits, splits.task.label_key(splits.label_delimiter)),
    ]
    if lengths is None and tokenizer is not None:
        lengths, lengths_cut = count_tokens(train, tokenizer, LENGTH_LIMIT), False
    if lengths is not None:
        checks.append(length_check(lengths, max_length, lengths_cut))
    if "group" in train.data.column_names:
        checks.append(groups_check(train, group_column or "group", splits.task, splits.label_delimiter))
    return CheckReport(checks, splits.task, splits.label_delimiter)
