"""The inputs of a run: its splits read, with the task, labels, targets and class weights, and tokenized."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from textfit.config.schema import RunConfig
from textfit.data.labels import LabelSet
from textfit.data.splits import Splits, load_splits
from textfit.data.tables import Table
from textfit.data.tasks import Task
from textfit.errors import ConfigError
from textfit.tokenization import ProgressCallback, token_lengths, tokenize_examples, tokenize_windows
from textfit.training.losses import class_weights

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """The splits of a run, and what training reads off them."""

    splits: Splits
    task: Task
    delimiter: str | None  # multi-label: what joins the labels of a row
    labels: LabelSet
    train_targets: Any
    validation_targets: Any
    weights: list[float] | None  # the loss weight of each class; None: no weights
    # The Trainer's compute_loss_func instead of losses.loss_function's (distillation's loss).
    compute_loss: Callable[..., Any] | None = None
    distillation: dict[str, Any] | None = None  # metrics.json's "distillation": the teacher, its scores


@dataclass
class Tokenized:
    """The tokenized training and validation rows (the validation rows sorted by length)."""

    train: Any  # datasets.Dataset
    validation: Any
    long_texts: dict[str, int] | None  # model.long_text "window": texts over max_length, windows


def load_data(cfg: RunConfig, tables: Mapping[str, Table] | None = None) -> TrainingData:
    """Read the splits, find the task and its labels, and the loss weights of the classes.

    `tables` (by role) are read instead of the files of cfg.data (see `load_splits`).

    Raises:
        DataError: from reading the data.
        ConfigError: class weights or a loss for a task other than single-label classification.
    """
    splits = load_splits(cfg.data, cfg.train.seed, cfg.model.task, tables=tables)
    task, delimiter = splits.task, splits.label_delimiter
    labels = task.labels(splits.train, delimiter, splits.columns["label"] or "label")
    _log_data(cfg, splits, labels)
    if not task.exclusive and (cfg.train.class_weights != "none" or cfg.train.loss != "cross_entropy"):
        raise ConfigError(
            f"train.class_weights and train.loss apply to single-label classification, not to {task.name}",
            hint="leave out --class-weights and --loss for this task",
        )
    train_targets = task.targets(splits.train, labels, delimiter)
    weights = class_weights(cfg.train.class_weights, labels.names, train_targets)
    if weights is not None or cfg.train.loss != "cross_entropy":
        logger.info(
            "loss: %s%s",
            cfg.train.loss + (f" (gamma {cfg.train.focal_gamma:g})" if cfg.train.loss == "focal" else ""),
            ", class weights " + ", ".join(f"{n} {w:.4g}" for n, w in zip(labels.names, weights, strict=True))
            if weights
            else "",
        )
    validation_targets = task.targets(splits.validation, labels, delimiter)
    return TrainingData(splits, task, delimiter, labels, train_targets, validation_targets, weights)


def _log_data(cfg: RunConfig, splits: Splits, labels: LabelSet) -> None:
    """Log the task, the columns and the rows read."""
    logger.info(
        "task: %s (%s)%s",
        splits.task.name,
        "detected" if cfg.model.task == "auto" else "model.task",
        f", labels joined by {splits.label_delimiter!r}" if splits.label_delimiter else "",
    )
    logger.info(
        "columns: text %r, label %r%s; %d labels; %d training, %d validation rows",
        splits.columns["text"],
        splits.columns["label"],
        f", text pair {splits.columns['text_pair']!r}" if splits.columns["text_pair"] else "",
        len(labels),
        len(splits.train),
        len(splits.validation),
    )


def tokenize(
    cfg: RunConfig, data: TrainingData, tokenizer: Any, progress: ProgressCallback | None
) -> Tokenized:
    """Tokenize the training and validation rows: cut at max_length, or in windows (model.long_text)."""
    splits, max_length, stride = data.splits, cfg.model.max_length, cfg.model.stride
    long_texts = None
    if (
        cfg.model.long_text == "window"
    ):  # texts over max_length: overlapping windows, each with its text's label
        train, rows = tokenize_windows(splits.train, tokenizer, max_length, stride, data.train_targets)
        validation, _ = tokenize_windows(
            splits.validation, tokenizer, max_length, stride, data.validation_targets
        )
        windows_per_text = np.bincount(rows, minlength=len(splits.train))
        long_texts = {"longer_than_max_length": int((windows_per_text > 1).sum()), "windows": len(rows)}
        logger.info(
            "long texts: %d of %d training texts are longer than max_length %d: %d windows (stride %d)",
            long_texts["longer_than_max_length"],
            len(splits.train),
            max_length,
            len(rows),
            stride,
        )
    else:
        cache = cfg.data.cache
        train = tokenize_examples(
            splits.train, tokenizer, max_length, data.train_targets, cache=cache, progress=progress
        )
        validation = tokenize_examples(
            splits.validation, tokenizer, max_length, data.validation_targets, cache=cache, progress=progress
        )
    # The metrics ignore the order, and batches of similar length pad less.
    by_length = np.argsort(token_lengths(validation), kind="stable")
    return Tokenized(train, validation.select(by_length), long_texts)
