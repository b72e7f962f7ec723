"""Make the splits: read the training, validation and test tables, hold out a validation share.

`load_splits` is the one path from the data settings to the splits. Given a `LoadProblems`, it
collects what it would raise under the check each fails and goes on where it can: `textfit check`
(`textfit.checks.run.check_data`) reports them all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np

from textfit.config.schema import DataConfig
from textfit.data.examples import (
    Columns,
    Examples,
    find_columns,
    find_group_column,
    with_pair_columns,
)
from textfit.data.hub import load_dataset_tables
from textfit.data.labels import check_label_map
from textfit.data.reading import read_table
from textfit.data.rows import EmptyRowsError, table_examples
from textfit.data.tables import Table, counted
from textfit.data.tasks import SINGLE_LABEL, Task, detect_task
from textfit.errors import ConfigError, DataError, TextfitError


def check_classes(examples: Examples) -> None:
    """Fail unless the examples have at least 2 labels."""
    counts = examples.label_counts()
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(
            f"{examples.source}: every row has the label {only!r}; a classifier needs at least 2 classes",
            hint="check --label-column, or add examples of the other classes",
        )


def stratified_split(examples: Examples, share: float, seed: int) -> tuple[Examples, Examples]:
    """Hold out a seeded, stratified `share` of the examples: (train, validation).

    Raises:
        DataError: a class has a single row, or either side would have fewer rows than classes.
    """
    from sklearn.model_selection import train_test_split

    counts = examples.label_counts()
    rare = sorted(name for name, count in counts.items() if count < 2)
    if rare:
        listed = ", ".join(f"{name!r} ({counts[name]} row)" for name in rare[:10])
        raise DataError(
            f"{examples.source}: cannot make a stratified validation split: "
            f"{counted(len(rare), 'class has', 'classes have')} fewer than 2 rows: {listed}",
            hint="add rows for these classes, remove them, or pass --validation-file",
        )
    n_validation = math.ceil(share * len(examples))
    if n_validation < len(counts):
        # Rounded up, so that the suggested share never prints as 0.00 or falls short.
        suggested = min(0.5, math.ceil(len(counts) / len(examples) * 150) / 100)
        raise DataError(
            f"{examples.source}: a validation split of {share:g} gives "
            f"{counted(n_validation, 'row', 'rows')}, fewer than the {len(counts)} classes",
            hint=f"pass --validation-split {suggested:.2f} or larger, or --validation-file",
        )
    n_train = len(examples) - n_validation
    if n_train < len(counts):
        raise DataError(
            f"{examples.source}: a validation split of {share:g} leaves "
            f"{counted(n_train, 'row', 'rows')} for training, fewer than the {len(counts)} classes",
            hint="pass a smaller --validation-split, or --validation-file",
        )
    # Each label's rank among the sorted names: scikit-learn orders the classes by value, so these
    # ranks give the same split as the names themselves, without a million strings.
    rank_of_code = np.argsort(np.argsort(np.asarray(examples.label_names, dtype=object)))
    train_idx, val_idx = train_test_split(
        np.arange(len(examples)),
        test_size=n_validation,
        stratify=rank_of_code[examples.codes],
        random_state=seed,
    )
    return examples.subset(train_idx), examples.subset(val_idx)


def random_split(examples: Examples, share: float, seed: int) -> tuple[Examples, Examples]:
    """Hold out a seeded random `share` (at least one row) of the examples: (train, validation).

    Multi-label and regression rows have no class to stratify by.

    Raises:
        DataError: fewer than 2 examples.
    """
    if len(examples) < 2:
        raise DataError(
            f"{examples.source}: 1 row cannot be split into training and validation",
            hint="add rows, or pass --validation-file",
        )
    order = np.random.default_rng(seed).permutation(len(examples))
    n_validation = min(max(1, math.ceil(share * len(examples))), len(examples) - 1)
    return examples.subset(np.sort(order[n_validation:])), examples.subset(np.sort(order[:n_validation]))


@dataclass
class Splits:
    """Training, validation and (optional) test examples; `textfit.checks.run` looks them over."""

    train: Examples
    validation: Examples
    columns: Columns
    test: Examples | None = None
    task: Task = SINGLE_LABEL
    label_delimiter: str | None = None  # joins the labels of a multi-label cell
    dataset_splits: dict[str, str] | None = None  # with data.dataset: the split read for each role


@dataclass
class Problem:
    """One error that load_splits met while collecting problems.

    Attributes:
        step: the check `textfit check` reports it under: read, columns, empty, labels or split.
        error: the error load_splits raises without a collector.
        rows_left_out: rows with an empty text or label, read again without them: loading went on.
    """

    step: str
    error: TextfitError
    rows_left_out: bool = False


@dataclass
class LoadProblems:
    """What load_splits found wrong, collected instead of raised, and the task once it was told.

    Loading goes on past a problem where it can (empty rows, an unreadable test file, unknown
    labels), and stops where nothing after it could be checked (no training rows, no task, no split,
    no validation rows).
    """

    found: list[Problem] = field(default_factory=list)
    task: Task | None = None
    label_delimiter: str | None = None


def _found(problems: LoadProblems | None, step: str, err: TextfitError, rows_left_out: bool = False) -> None:
    """Raise err; or, collecting, add it under `step`."""
    if problems is None:
        raise err
    problems.found.append(Problem(step, err, rows_left_out))


_Read = tuple[Examples, Columns, DataConfig]


def _read(
    source: Path | Table, cfg: DataConfig, problems: LoadProblems | None, training: bool
) -> _Read | None:
    """The examples of one file (or split), its columns, and cfg with pair columns found (`training`).

    Collecting, a problem is added under its step (None: the file gave no examples), and empty rows
    are read again without them. The group column is required in the training table only.
    """
    step = "read"
    try:
        table = (
            source
            if isinstance(source, Table)
            else read_table(source, cfg.format, cfg.encoding, cfg.delimiter)
        )
        step = "columns"  # also a text or group column of values that are not texts
        cfg = with_pair_columns(cfg, table) if training else cfg
        columns = find_columns(table, cfg)
        group = find_group_column(table, cfg, required=training)
        try:
            examples = table_examples(
                table, columns, cfg.drop_invalid, group_column=group, label_map=cfg.label_map
            )
        except EmptyRowsError as err:
            step = "empty"
            if problems is None or cfg.drop_invalid:  # drop_invalid: no usable row left
                raise
            _found(problems, step, err, rows_left_out=True)
            examples = table_examples(table, columns, True, group_column=group, label_map=cfg.label_map)
    except DataError as err:
        _found(problems, step, err)
        return None
    return examples, columns, cfg


class _Training(NamedTuple):
    """Where the training rows come from: a file, or a data set's train split (with its other splits)."""

    source: Path | Table
    cfg: DataConfig  # with the pair columns a data set uses
    tables: dict[str, Table]  # a data set's splits as tables by role; none for files
    dataset_splits: dict[str, str] | None  # the split read for each role


def _training_source(
    cfg: DataConfig, problems: LoadProblems | None, tables: Mapping[str, Table] | None
) -> _Training | None:
    """The tables given, the training file, or cfg.dataset's splits (None: they could not be loaded)."""
    if tables is not None:
        if cfg.train_file is not None or cfg.dataset is not None:
            given = cfg.train_file or cfg.dataset
            raise ConfigError(
                f"tables given and a training source in the settings ({given}): which one to train on?",
                hint="leave train_file and dataset out of the settings when passing tables",
            )
        return _Training(tables["train"], cfg, dict(tables), None)
    if cfg.dataset is None:
        if cfg.train_file is None:
            raise DataError("no training file given", hint="textfit train data.csv (or --dataset NAME)")
        return _Training(cfg.train_file, cfg, {}, None)
    try:
        loaded = load_dataset_tables(cfg)
    except DataError as err:
        _found(problems, "read", err)
        return None
    return _Training(loaded.tables["train"], loaded.data, loaded.tables, loaded.splits)


def _hold_out(
    examples: Examples, task: Task, cfg: DataConfig, seed: int, problems: LoadProblems | None
) -> tuple[Examples, Examples] | None:
    """A seeded validation share of the training examples: stratified (single-label) or at random."""
    split = stratified_split if task.stratified else random_split
    try:
        train, validation = split(examples, cfg.validation_split, seed)
    except DataError as err:
        _found(problems, "split", err)
        return None
    train.dropped = examples.dropped
    return train, validation


def _check_labels(splits: Splits, cfg: DataConfig, problems: LoadProblems | None, whole: Examples) -> None:
    """Fail on a data.label_map name no row has, and on labels the model cannot learn or score."""
    validation = None if splits.validation.data is whole.data else splits.validation
    try:
        check_label_map(cfg.label_map, (whole, validation, splits.test))
    except DataError as err:
        _found(problems, "labels", err)
    label = splits.columns["label"] or "label"
    labels = splits.task.labels(splits.train, splits.label_delimiter, label)
    for evaluated in (splits.train, splits.validation, splits.test):
        try:
            if evaluated is not None:  # fail now on bad labels, not after training
                splits.task.targets(evaluated, labels, splits.label_delimiter)
        except DataError as err:
            _found(problems, "labels", err)


@overload
def load_splits(
    cfg: DataConfig,
    seed: int,
    task: str = ...,
    problems: None = ...,
    tables: Mapping[str, Table] | None = ...,
) -> Splits: ...


@overload
def load_splits(
    cfg: DataConfig,
    seed: int,
    task: str,
    problems: LoadProblems,
    tables: Mapping[str, Table] | None = ...,
) -> Splits | None: ...


def load_splits(
    cfg: DataConfig,
    seed: int,
    task: str = "auto",
    problems: LoadProblems | None = None,
    tables: Mapping[str, Table] | None = None,
) -> Splits | None:
    """Read the training, validation and test tables named in cfg (files, or the splits of cfg.dataset).

    Without a validation file (or split), a stratified, seeded share of the training file is held out.
    A training file with known sentence-pair columns and no "text" column is read as pairs (see
    `with_pair_columns`); cfg.label_map renames labels in every table, and fails on a name no row has.
    The task (model.task; detected when "auto", see `textfit.data.tasks.detect_task`) decides how
    labels are read; multi-label and regression rows are split at random, not stratified.

    Args:
        cfg: the data settings.
        seed: the seed of the validation split.
        task: model.task.
        problems: collect the errors here instead of raising them, going on where loading can;
            then None is returned where it cannot (see `LoadProblems`).
        tables: tables held in memory by role ("train", optional "validation" and "test"; see
            `textfit.data.memory.memory_tables`), read instead of cfg's files; with them, cfg
            names no training file or data set. A role without a table falls back to cfg's file.

    Raises:
        ConfigError: the task cannot be told from the labels.
        DataError: naming the file, rows and columns of every problem, with a hint.
    """
    training = _training_source(cfg, problems, tables)
    read = None if training is None else _read(training.source, training.cfg, problems, True)
    if training is None or read is None:
        return None
    examples, columns, cfg = read
    try:
        found, delimiter = detect_task(
            list(examples.label_counts()), task, cfg.label_delimiter, examples.source
        )
        if found.exclusive:
            check_classes(examples)
    except TextfitError as err:
        _found(problems, "labels", err)
        return None
    if problems is not None:
        problems.task, problems.label_delimiter = found, delimiter
    validation_source = training.tables.get("validation", cfg.validation_file)
    if validation_source is None:
        pair = _hold_out(examples, found, cfg, seed, problems)
    else:
        validation = _read(validation_source, cfg, problems, False)
        pair = None if validation is None else (examples, validation[0])
    if pair is None:
        return None
    test_source = training.tables.get("test", cfg.test_file)
    test = None if test_source is None else _read(test_source, cfg, problems, False)
    splits = Splits(
        *pair, columns, None if test is None else test[0], found, delimiter, training.dataset_splits
    )
    _check_labels(splits, cfg, problems, examples)
    return splits
