"""Distillation: a student trained on a teacher run's probabilities (`textfit distill TEACHER_RUN data.csv`).

The student is a run as `train` writes it, through train.py's steps (`train_run`); only its data is
read here: every training row with the teacher's probabilities as its target, rows without a label too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config.loading import with_settings
from textfit.config.schema import DataConfig, RunConfig
from textfit.data.examples import LABEL_COLUMNS, Examples, find_columns, find_group_column, with_pair_columns
from textfit.data.labels import LabelSet, label_codes
from textfit.data.reading import read_table
from textfit.data.rows import read_examples, table_examples
from textfit.data.splits import Splits, random_split, stratified_split
from textfit.data.tables import counted
from textfit.data.tasks import SINGLE_LABEL
from textfit.devices import pick_device
from textfit.errors import ConfigError, DataError
from textfit.evaluation import score
from textfit.inference.classifier import Classifier
from textfit.metrics import scalar_metrics
from textfit.runs.layout import saved_settings
from textfit.tokenization import ProgressCallback
from textfit.training.inputs import TrainingData
from textfit.training.losses import distillation_loss
from textfit.training.train import TrainResult, resolve_run, train_run

logger = logging.getLogger(__name__)

# softmax(logits / 2): the teacher's second choices carry signal; Hinton et al. use 2 to 20, SetFit 2.
DEFAULT_TEMPERATURE = 2.0
# The labels speak through the teacher, which was trained on them: the student learns the teacher
# alone, with labels or without (SetFit's distillation). See benchmarks/RESULTS.md, distillation.
DEFAULT_ALPHA = 0.0
STUDENT_SUFFIX = "-distilled"  # the default run folder: runs/<file name>-distilled


@dataclass
class DistillResult(TrainResult):
    """A distilled run (see TrainResult), with the teacher's scores on the same rows."""

    teacher: dict[str, Any] = field(default_factory=dict)  # metrics.json's "distillation"
    # Per evaluated split: the share of rows where the student predicts the teacher's class.
    agreement: dict[str, float] = field(default_factory=dict)


def distill(
    teacher_run: str | Path,
    cfg: RunConfig | None = None,
    *,
    overwrite: bool = False,
    temperature: float = DEFAULT_TEMPERATURE,
    alpha: float = DEFAULT_ALPHA,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    inputs: Sequence[str | Path] = (),
    **settings: Any,
) -> DistillResult:
    """Train cfg.model.name (the student) on the probabilities of the classifier of `teacher_run`.

    `distill("runs/teacher", train_file="data.csv", model="minilm")`. Rows of the training file with
    an empty label are trained on the teacher's probabilities alone; rows with a label also give the
    validation split (a stratified share of them, unless data.validation_file) and, with alpha, a
    cross-entropy term. Without any label, validation is scored against the teacher's class.
    The student has the teacher's labels, in its order, and is saved as `train` saves a run.

    Args:
        teacher_run: a single-label run folder (or model folder) written by `train`.
        cfg: the student's run configuration; defaults when None.
        overwrite: replace an existing run folder that textfit wrote (see `train`).
        temperature: T of softmax(logits / T), the teacher's and the student's; the loss is times T^2.
        alpha: the weight of the hard-label cross-entropy on rows with a label (0: the teacher alone).
        progress: show the Trainer's progress bars (on stderr).
        callbacks: extra transformers TrainerCallbacks.
        tokenize_progress: called with (texts tokenized, texts in all) while each split is tokenized.
        inputs: other files the caller read the settings from (the CLI's --config file).
        **settings: settings by name (train_file, model, epochs, ...), over those of cfg. Without
            output_dir the student goes to runs/<file name>-distilled.

    Returns:
        DistillResult: the student's run and metrics, the teacher's scores, their agreement.

    Raises:
        ConfigError: a teacher that is not single-label, settings distillation cannot take.
        DataError, ModelError: as `train`.
    """
    check_weights(temperature, alpha)
    student = with_settings(cfg, settings) if cfg is None or settings else cfg
    if student.output_dir is None:  # not runs/<file>, where the teacher of the same file often is
        default = student.resolved_output_dir()
        student = with_settings(student, {"output_dir": default.with_name(default.name + STUDENT_SUFFIX)})
    run = resolve_run(student, overwrite=overwrite, inputs=[*inputs, teacher_run])
    check_settings(run.cfg)
    # Held by `reading` alone, which lets it go once it has predicted: not while the student trains.
    reading = TeacherTargets(load_teacher(teacher_run, run.cfg), Path(teacher_run), temperature, alpha)
    trained = train_run(
        run, progress=progress, callbacks=callbacks, tokenize_progress=tokenize_progress, load=reading.load
    )
    return DistillResult(
        **vars(trained),
        teacher=trained.metrics.get("distillation") or {},
        agreement=agreement(trained.run_dir, reading.teacher_predicted) if trained.main_process else {},
    )


def check_weights(temperature: float, alpha: float) -> None:
    """Fail unless temperature > 0 and 0 <= alpha <= 1."""
    if not temperature > 0:
        raise ConfigError(f"temperature must be above 0, not {temperature:g}", hint="pass --temperature 2")
    if not 0 <= alpha <= 1:
        raise ConfigError(
            f"alpha is the weight of the label loss, from 0 to 1, not {alpha:g}", hint="pass --alpha 0.5"
        )


def check_settings(cfg: RunConfig) -> None:
    """Fail on settings distillation does not take: another task or loss, a data set, long-text windows."""
    unsupported = {
        "model.task": cfg.model.task not in ("auto", "single_label"),
        "train.loss": cfg.train.loss != "cross_entropy",
        "train.class_weights": cfg.train.class_weights != "none",
        "model.long_text window": cfg.model.long_text == "window",
        "data.dataset": cfg.data.dataset is not None,
        "hub.push_to_hub": cfg.hub.push_to_hub is not None,
    }
    named = [name for name, set_ in unsupported.items() if set_]
    if named:
        raise ConfigError(
            f"distillation takes a single-label training file, cut at max_length, with its own loss; "
            f"these settings do not apply: {', '.join(named)}",
            hint="leave them out (a data set: save its train split as a file and pass that; "
            "the Hub: textfit push STUDENT_RUN OWNER/NAME once distilled)",
        )


def load_teacher(teacher_run: str | Path, cfg: RunConfig) -> Classifier:
    """The teacher's classifier, on the student's device.

    Raises:
        ModelError: not a complete run.
        ConfigError: the teacher is not a single-label classifier.
    """
    teacher = Classifier.load(
        teacher_run, batch_size=cfg.train.eval_batch_size, device=pick_device(cfg.train.device)
    )
    if teacher.task is not SINGLE_LABEL:
        raise ConfigError(
            f"{teacher_run} is a {teacher.task.name} classifier; distillation takes a single-label teacher",
            hint="pass the run of a single-label classifier as TEACHER_RUN",
        )
    return teacher


def soften(probabilities: NDArray[Any], temperature: float) -> NDArray[np.float32]:
    """softmax(logits / T) from softmax(logits): log p is the logits less a constant per row.

    Args:
        probabilities: (rows, classes), each row summing to 1.
        temperature: T; 1 gives the probabilities back.
    """
    log_p = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-30, None)) / temperature
    shifted = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    softened: NDArray[np.float32] = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return softened


def agreement(run_dir: Path, teacher_predicted: dict[str, list[str]]) -> dict[str, float]:
    """Per evaluated split, the share of rows where the student predicts the teacher's class."""
    import pyarrow.parquet as pq

    shares = {}
    for split, teacher_labels in teacher_predicted.items():
        path = run_dir / f"predictions-{split}.parquet"
        if path.exists() and teacher_labels:
            student = pq.read_table(path, columns=["predicted_label"]).column(0).to_pylist()
            shares[split] = float(np.mean(np.asarray(student) == np.asarray(teacher_labels)))
    return shares


class TeacherTargets:
    """The `load` step of a distilled run: the splits, with the teacher's probabilities as targets."""

    def __init__(self, teacher: Classifier, run_dir: Path, temperature: float, alpha: float) -> None:
        """Read with this teacher; its classifier is let go once its predictions are made."""
        self.teacher: Classifier | None = teacher
        self.run_dir, self.temperature, self.alpha = run_dir, temperature, alpha
        self.labels = LabelSet(tuple(teacher.labels))
        self.teacher_predicted: dict[str, list[str]] = {}  # per evaluated split: the teacher's classes

    def load(self, cfg: RunConfig) -> TrainingData:
        """TrainingData for train_run: rows, splits, soft targets, the loss and metrics.json's entry."""
        teacher = self.teacher
        if teacher is None:  # the OOM retry of fit() reloads the model, not the data
            raise RuntimeError("TeacherTargets.load runs once")
        rows, given, columns, data = read_rows(cfg.data, self.labels, teacher.columns)
        probabilities = teacher.predict_proba(rows.texts, rows.text_pairs)  # (rows, classes)
        predicted = probabilities.argmax(axis=1)
        # Each row's label: its own, else the teacher's class (what the checks and the card count).
        rows = replace(rows, label_codes=np.where(given >= 0, given, predicted).astype(np.int32))
        train, validation, validated_by = self._split(data, cfg.train.seed, rows, given)
        test = read_examples(data.test_file, data) if data.test_file else None
        splits = Splits(train, validation, columns, test, SINGLE_LABEL)
        selection = _positions(train)
        targets = np.concatenate(
            [soften(probabilities[selection], self.temperature), given[selection, None]], axis=1
        )
        validation_targets = self.labels.encode(validation)
        held_out = probabilities[_positions(validation)] if validation.data is rows.data else None
        scored = {"validation": self._score(teacher, "validation", validation, held_out)}
        if test is not None:
            scored["test"] = self._score(teacher, "test", test, None)
        labelled = int((given[selection] >= 0).sum())
        logger.info(
            "distillation: %d training rows (%d with a label, %d without), temperature %g, alpha %g; "
            "validation: %s",
            len(train),
            labelled,
            len(train) - labelled,
            self.temperature,
            self.alpha,
            validated_by,
        )
        self.teacher = None
        entry = {
            "teacher": {"run": str(self.run_dir), "model": _teacher_model(self.run_dir), **scored},
            "temperature": self.temperature,
            "alpha": self.alpha,
            "labelled_rows": labelled,
            "unlabelled_rows": len(train) - labelled,
            "validation_labels": validated_by,
        }
        loss = distillation_loss(self.temperature, self.alpha)
        return TrainingData(
            splits, SINGLE_LABEL, None, self.labels, targets, validation_targets, None, loss, entry
        )

    def _split(
        self, data: DataConfig, seed: int, rows: Examples, given: NDArray[np.int64]
    ) -> tuple[Examples, Examples, str]:
        """Training and validation rows, and where the validation labels come from.

        A validation file; else a stratified share of the rows with a label (every row without one
        trains); else, no label at all, a random share scored against the teacher's class.
        """
        if data.validation_file is not None:
            return rows, read_examples(data.validation_file, data), "the validation file's labels"
        labelled, unlabelled = np.flatnonzero(given >= 0), np.flatnonzero(given < 0)
        if not len(labelled):
            logger.warning(
                "no row of %s has a label: validation is scored against the teacher's classes", rows.source
            )
            train, validation = random_split(rows, data.validation_split, seed)
            return train, validation, "the teacher's classes (no row has a label)"
        train, validation = stratified_split(rows.subset(labelled), data.validation_split, seed)
        kept = np.sort(np.concatenate([_positions(train), unlabelled]))
        return rows.subset(kept), validation, "labels given"

    def _score(
        self, teacher: Classifier, split: str, examples: Examples, probabilities: NDArray[Any] | None
    ) -> dict[str, float]:
        """The teacher's metrics on these examples; its classes kept for the student's agreement."""
        scored = score(teacher, examples, probabilities=probabilities)
        self.teacher_predicted[split] = [self.labels.names[i] for i in scored.probabilities.argmax(axis=1)]
        return scalar_metrics(scored.metrics)


def read_rows(
    data: DataConfig, labels: LabelSet, trained_columns: dict[str, Any]
) -> tuple[Examples, NDArray[np.int64], Any, DataConfig]:
    """Every row of the training file with a text, each row's label id (-1: empty), the columns and data.

    Columns not named are those the teacher was trained on, where the file has them; a file without
    a label column is read as unlabelled.

    Raises:
        DataError: an empty text (without drop_invalid), or a label the teacher does not know.
    """
    from textfit.data.examples import with_trained_columns

    if data.train_file is None:
        raise DataError("no training file given", hint="textfit distill TEACHER_RUN data.csv")
    table = read_table(data.train_file, data.format, data.encoding, data.delimiter)
    data = with_trained_columns(with_pair_columns(data, table), table, trained_columns)
    has_label = data.label_column is not None or any(name.lower() in LABEL_COLUMNS for name in table.names)
    columns = find_columns(table, data, need_label=has_label)
    group = find_group_column(table, data, required=False)
    rows = table_examples(table, columns, data.drop_invalid, need_labels=False, group_column=group)
    given = np.full(len(rows), -1, dtype=np.int64)
    if columns["label"] is not None:
        reading = label_codes(table, columns["label"], data.label_map)
        codes = reading.codes[np.asarray(rows.rows, dtype=np.int64)]
        named = replace(
            rows, label_codes=np.maximum(codes, 0).astype(np.int32), label_names=tuple(reading.names)
        )
        labelled = np.flatnonzero(codes >= 0)
        given[labelled] = labels.encode(named.subset(labelled))  # DataError: a label the teacher lacks
    logger.info(
        "%s: %s with a label, %s without",
        rows.source,
        counted(int((given >= 0).sum()), "row", "rows"),
        counted(int((given < 0).sum()), "row", "rows"),
    )
    return replace(rows, label_names=labels.names), given, columns, data


def _positions(examples: Examples) -> NDArray[np.int64]:
    """The examples' rows of their data, in order."""
    return np.arange(len(examples)) if examples.selection is None else examples.selection


def _teacher_model(run_dir: Path) -> str:
    """The model the teacher was fine-tuned from (its run_config.yaml); its folder where there is none."""
    model = saved_settings(run_dir).get("model")
    name = model.get("name") if isinstance(model, dict) else None
    return str(run_dir) if name is None else str(name)
