"""`find_label_errors`: a config's training rows, their out-of-fold probabilities, cleanlab's verdict.

The probabilities of each row come from a model that never saw it (k folds, stratified and seeded);
`cleanlab.filter.find_label_issues` (confident learning) picks the rows whose given label the
probabilities contradict, ranked by self-confidence: the probability of the given label.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from textfit.config.schema import RunConfig
from textfit.data.examples import Examples
from textfit.data.splits import load_splits
from textfit.data.tasks import SINGLE_LABEL
from textfit.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Method = Literal["embeddings", "finetune"]
METHODS: tuple[Method, ...] = ("embeddings", "finetune")


@dataclass(frozen=True)
class LabelError:
    """One row whose given label is probably wrong.

    Attributes:
        index: the row's position among the rows checked (0-based).
        row: its 1-based data row in the training file (header excluded).
        line: its physical line in the file (None for formats without lines).
        text: its text; `text_pair` its second text (sentence pairs), else None.
        label: the label the table gives it; `suggested_label`: the most probable label out of fold.
        label_quality: the out-of-fold probability of the given label (cleanlab's self-confidence).
    """

    index: int
    row: int
    line: int | None
    text: str
    text_pair: str | None
    label: str
    suggested_label: str
    label_quality: float

    @property
    def where(self) -> str:
        """'row 17 (line 18)', as textfit's messages name rows."""
        return f"row {self.row}" + ("" if self.line is None else f" (line {self.line})")


@dataclass
class LabelErrors:
    """What `find_label_errors` found: the rows, most likely wrong first, and how they were found."""

    rows: list[LabelError]
    checked: int  # rows checked: every usable row of the training table
    source: Path
    method: Method
    folds: int
    seconds: float
    notes: list[str] = field(default_factory=list)  # e.g. fewer folds than asked, and why

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (`textfit check --json`)."""
        return {
            "source": str(self.source),
            "method": self.method,
            "folds": self.folds,
            "checked": self.checked,
            "found": len(self.rows),
            "seconds": round(self.seconds, 1),
            "notes": self.notes,
            "rows": [dataclasses.asdict(row) for row in self.rows],
        }


def find_label_errors(
    cfg: RunConfig,
    *,
    method: Method = "embeddings",
    folds: int = 5,
    epochs: float | None = None,
    seed: int | None = None,
) -> LabelErrors:
    """Find the rows of cfg's training table whose given label is probably wrong.

    The rows are read as `textfit check` and `textfit train` read them (columns, label map, pairs,
    empty rows). Every usable row of the training table is checked, the share that training would
    hold out for validation included; a validation or test table is not checked.

    Args:
        cfg: the run configuration: its data, model (the encoder, max_length) and train settings.
        method: "embeddings" (default, cheap): a logistic regression on the mean-pooled last hidden
            states of cfg.model's frozen encoder; "finetune": a textfit run per fold (cfg's
            settings, `epochs` epochs), each predicting its held-out fold.
        folds: k of the stratified k-fold split; lowered to the rows of the rarest class (noted).
        epochs: the epochs of each fold's run (finetune only; default cfg.train.epochs).
        seed: the seed of the folds (default cfg.train.seed).

    Returns:
        The rows found, lowest label quality (most likely wrong) first.

    Raises:
        ConfigError: a task other than single-label classification, an unknown method, fewer
            than 2 folds, or epochs with the embeddings method.
        DataError: the table cannot be read, or a class has a single row.
        ModelError: the model cannot be loaded.
    """
    _check_settings(method, folds, epochs)
    started = time.perf_counter()
    examples = _training_rows(cfg)
    names, labels = _dense_labels(examples)
    k, notes = _fold_count(examples, names, labels, folds)
    seed = cfg.train.seed if seed is None else seed
    logger.info("label errors: %s rows, %d folds, method %s", f"{len(labels):,}", k, method)
    if method == "embeddings":
        from textfit.label_errors.embeddings import embedding_probabilities

        probabilities = embedding_probabilities(cfg, examples, labels, k, seed)
    else:
        from textfit.label_errors.finetune import finetune_probabilities

        probabilities = finetune_probabilities(cfg, examples, names, labels, k, seed, epochs)
    rows = _rank(examples, names, labels, probabilities)
    seconds = time.perf_counter() - started
    return LabelErrors(rows, len(labels), examples.source, method, k, seconds, notes)


def _check_settings(method: str, folds: int, epochs: float | None) -> None:
    if method not in METHODS:
        raise ConfigError(
            f"unknown label-errors method {method!r}",
            hint="pass --label-errors-method embeddings or finetune",
        )
    if folds < 2:
        raise ConfigError(
            f"--folds {folds}: out-of-fold predictions need at least 2 folds", hint="pass --folds 5"
        )
    if epochs is not None and method == "embeddings":
        raise ConfigError(
            "--label-errors-epochs applies to --label-errors-method finetune; the embeddings method trains "
            "no encoder",
            hint="leave out --label-errors-epochs, or pass --label-errors-method finetune",
        )
    if epochs is not None and epochs <= 0:
        raise ConfigError(f"--label-errors-epochs {epochs:g} is not positive", hint="pass 1 or more")


def _training_rows(cfg: RunConfig) -> Examples:
    """Every usable row of the training table (the validation share training holds out included)."""
    splits = load_splits(cfg.data, cfg.train.seed, cfg.model.task)
    if splits.task is not SINGLE_LABEL:
        raise ConfigError(
            f"label errors are found for single-label classification, and {splits.train.source} holds "
            f"a {splits.task.name.replace('_', '-')} task",
            hint="leave out --label-errors for this table (or pass --task single_label if each row has "
            "one label)",
        )
    train = splits.train
    if splits.validation.data is train.data:  # a held-out share of the same file: check it too
        return dataclasses.replace(train, selection=None, dropped=0)
    return train


def _dense_labels(examples: Examples) -> tuple[list[str], NDArray[np.int64]]:
    """The label names that rows have, and each row's label as an index into them."""
    present, labels = np.unique(examples.codes, return_inverse=True)
    return [examples.label_names[code] for code in present.tolist()], labels.astype(np.int64)


def _fold_count(
    examples: Examples, names: list[str], labels: NDArray[np.int64], folds: int
) -> tuple[int, list[str]]:
    """k: `folds`, or fewer where the rarest class has fewer rows (each fold needs one of each)."""
    counts = np.bincount(labels, minlength=len(names))
    rarest = int(counts.argmin())
    if counts[rarest] < 2:
        single = [repr(name) for name, count in zip(names, counts, strict=True) if count < 2]
        raise DataError(
            f"{examples.source}: cannot find label errors: class {', '.join(single[:10])} has a single "
            "row; out-of-fold predictions need at least 2 rows of each class",
            hint="add rows of that class, or remove it",
        )
    if counts[rarest] >= folds:
        return folds, []
    note = (
        f"{int(counts[rarest])} folds instead of {folds}: class {names[rarest]!r} has "
        f"{int(counts[rarest])} rows, and each fold needs one of each class"
    )
    logger.warning("label errors: %s", note)
    return int(counts[rarest]), [note]


def _rank(
    examples: Examples, names: list[str], labels: NDArray[np.int64], probabilities: NDArray[np.float64]
) -> list[LabelError]:
    """The rows cleanlab finds, ranked by self-confidence (lowest first)."""
    from cleanlab.filter import find_label_issues

    found = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    texts, pairs = examples.column("text"), examples.text_pairs
    rows, lines = examples.rows, examples.line_numbers
    errors = []
    for index in (int(i) for i in found):
        row = rows[index]
        errors.append(
            LabelError(
                index=index,
                row=row + 1,
                line=None if lines is None else lines[row],
                text=texts[index].as_py(),
                text_pair=None if pairs is None else pairs[index],
                label=names[labels[index]],
                suggested_label=names[int(probabilities[index].argmax())],
                label_quality=float(probabilities[index, labels[index]]),
            )
        )
    return errors
