"""Evaluate a saved run on a labelled table: metrics (JSON), predictions and a report, beside the run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.examples import Examples, find_columns, find_group_column, with_trained_columns
from textfit.data.labels import LabelSet, check_label_map
from textfit.data.reading import read_table
from textfit.data.rows import table_examples
from textfit.data.tables import Table
from textfit.data.tasks import Task
from textfit.errors import ConfigError
from textfit.files import write_json_atomic
from textfit.inference.classifier import Classifier, ProgressCallback
from textfit.metrics import evaluation_report
from textfit.report.page import write_report
from textfit.report.predictions import write_task_predictions
from textfit.runs.layout import saved_settings

logger = logging.getLogger(__name__)


@dataclass
class EvalReport:
    """The metrics of one evaluation, and where they, the predictions and the report were written."""

    source: Path
    metrics: dict[str, Any]
    output: Path | None
    predictions_file: Path | None = None
    report_file: Path | None = None


def evaluate(
    run_dir: str | Path,
    data_file: str | Path,
    cfg: DataConfig | None = None,
    output: str | Path | None = None,
    classifier: Classifier | None = None,
    progress: ProgressCallback | None = None,
    precision: str = "auto",
    report: bool = True,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> EvalReport:
    """Evaluate the model of `run_dir` on the labelled table `data_file`.

    Args:
        run_dir: a run folder written by `train` (or a model folder).
        data_file: a table with text and label columns (found as in training, or named in cfg).
        cfg: how to read the table (columns, format, encoding, drop_invalid); with a group_column,
            the metrics have "groups": a report per group, the weakest macro-F1 first. Without
            one, the run's own data.group_column (run_config.yaml) where the table has it. Its
            label_map renames labels (failing on a name the table lacks); without one, the run's
            own data.label_map renames them.
        output: where to write the metrics JSON; default RUN_DIR/eval-<file stem>.json.
        classifier: an already loaded classifier for run_dir.
        progress: called with (texts done, texts in all) after each batch.
        precision: auto (bf16 where the hardware runs it fast), fp32, bf16 or fp16; not used with
            a classifier given.
        report: also write report-<file stem>.html, with its figures in figures-<file stem>/, beside
            the metrics JSON. The predictions go there either way (<JSON stem>.predictions.parquet).
        allow_pickle: load pickled weights where the run has no safetensors (see Classifier.load).
        trust_remote_code: run the model folder's own code (see Classifier.load).

    Raises:
        DataError: the table cannot be read, or has labels the model was not trained on.
        ModelError: run_dir is not a complete run.
        ConfigError: an output file would be data_file itself.
    """
    run_dir, data_file = Path(run_dir), Path(data_file)
    path = Path(output) if output is not None else run_dir / f"eval-{data_file.stem}.json"
    _check_outputs_are_not_the_input(path, data_file, report)
    classifier = classifier or Classifier.load(
        run_dir, precision=precision, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code
    )
    examples, group = _read_examples(run_dir, data_file, cfg or DataConfig(), classifier)
    scored = score(classifier, examples, group, progress=progress)
    metrics = scored.metrics
    metrics["task"] = classifier.task.name
    metrics["file"] = str(data_file)
    metrics["dropped_rows"] = examples.dropped
    metrics["precision"] = classifier.precision
    write_json_atomic(path, metrics)
    predictions_file = path.with_name(f"{path.stem}.predictions.parquet")
    predictions = write_split_predictions(
        predictions_file, examples, classifier.task, classifier.labels, scored
    )
    report_file = _write_report(run_dir, data_file, path, metrics, predictions) if report else None
    return EvalReport(data_file, metrics, path, predictions, report_file)


def _write_report(
    run_dir: Path, data_file: Path, path: Path, metrics: dict[str, Any], predictions: Path
) -> Path:
    """report-<file stem>.html beside the metrics JSON `path`, with its figures."""
    name = data_file.stem
    output = path.parent / f"report-{name}.html"
    return write_report(run_dir, name, metrics=metrics, predictions=predictions, output=output)


@dataclass
class Scored:
    """The metrics of a classifier on labelled examples, and what they were computed from."""

    metrics: dict[str, Any]
    probabilities: NDArray[np.float32]  # Classifier.predict_proba of the examples
    truth: Any  # the examples' targets (label ids, label rows, or values)
    thresholds: list[float] | None  # multi-label: each label's threshold


def score(
    classifier: Classifier,
    examples: Examples,
    group_column: str | None = None,
    *,
    thresholds: Sequence[float] | None = None,
    probabilities: NDArray[np.float32] | None = None,
    progress: ProgressCallback | None = None,
) -> Scored:
    """Score a classifier on labelled examples: what `evaluate` reports, and training's final evaluation.

    Args:
        classifier: the model to score (its labels, task and label delimiter come with it).
        examples: labelled rows, read with the group column where there is one.
        group_column: also a report per group (single-label).
        thresholds: multi-label: each label's threshold; default the classifier's own.
        probabilities: the classifier's predictions for the examples, where already made.
        progress: called with (texts done, texts in all) after each batch.

    Raises:
        DataError: a label the model was not trained on (before any prediction), or (regression)
            labels that are not numbers.
    """
    labels = LabelSet(tuple(classifier.labels))
    task = classifier.task
    delimiter = classifier.label_delimiter  # read by the tasks whose cells list labels
    chosen = None
    if task.has_lists:
        chosen = list(thresholds) if thresholds is not None else classifier.thresholds.tolist()
    truth = task.targets(examples, labels, delimiter)  # unknown labels fail before any prediction
    if probabilities is None:
        probabilities = classifier.predict_proba(examples.texts, examples.text_pairs, progress)
    metrics = evaluation_report(task, labels, examples, probabilities, delimiter, chosen, group_column)
    return Scored(metrics, probabilities, truth, chosen)


def write_split_predictions(
    path: Path, examples: Examples, task: Task, names: Sequence[str], scored: Scored
) -> Path:
    """Write the scored examples with their predictions, as Parquet (the report reads it); returns path."""
    return write_task_predictions(
        path, task, examples, names, scored.probabilities, scored.truth, scored.thresholds
    )


def _read_examples(
    run_dir: Path, data_file: Path, cfg: DataConfig, classifier: Classifier
) -> tuple[Examples, str | None]:
    """The labelled rows of data_file, read as the run was trained (columns, labels renamed).

    Returns:
        The examples, and the group column of the metrics per group (None: no such metrics).
    """
    table = read_table(data_file, cfg.format, cfg.encoding, cfg.delimiter)
    cfg = with_trained_columns(cfg, table, classifier.columns)
    if cfg.group_column is None:
        cfg = cfg.model_copy(update={"group_column": trained_group_column(run_dir, table)})
    group = find_group_column(table, cfg, required=True)
    saved = _saved_data(run_dir).get("label_map")
    trained_map = {str(old): str(new) for old, new in saved.items()} if isinstance(saved, dict) else {}
    label_map = cfg.label_map or trained_map
    examples = table_examples(
        table, find_columns(table, cfg), cfg.drop_invalid, group_column=group, label_map=label_map
    )
    check_label_map(cfg.label_map, [examples])  # the run's own map may name labels this table lacks
    if examples.mapped:
        logger.info(
            "labels renamed (%s): %s",
            "--label-map" if cfg.label_map else "the run's data.label_map",
            ", ".join(f"{name!r} -> {label_map[name]!r} ({n} rows)" for name, n in examples.mapped.items()),
        )
    return examples, group


def output_files(path: Path, data_file: Path, report: bool = True) -> list[Path]:
    """The files an evaluation writes for the metrics JSON `path`: it, its predictions, its report."""
    files = [path, path.with_name(f"{path.stem}.predictions.parquet")]
    return files + ([path.with_name(f"report-{data_file.stem}.html")] if report else [])


def _check_outputs_are_not_the_input(path: Path, data_file: Path, report: bool) -> None:
    """Refuse an --output that would write over the table being evaluated.

    Raises:
        ConfigError: naming the output file and the input it would replace.
    """
    for written in output_files(path, data_file, report):
        if written.exists() and data_file.exists() and written.resolve() == data_file.resolve():
            raise ConfigError(
                f"evaluating {data_file} would write over it: {written} is that file",
                hint="pass --output with another file name (evaluate never replaces its input)",
            )


def _saved_data(run_dir: Path) -> dict[str, Any]:
    """The data section of the run's run_config.yaml; empty for a model folder or a damaged file."""
    data = saved_settings(run_dir).get("data")
    return data if isinstance(data, dict) else {}


def trained_group_column(run_dir: Path, table: Table) -> str | None:
    """The run's data.group_column (run_config.yaml) where `table` has that column; else None (logged)."""
    name = _saved_data(run_dir).get("group_column")
    if not isinstance(name, str) or not name:
        return None
    if name not in table.names:
        logger.info(
            "no metrics per group: %s has no column %r (the run's data.group_column)", table.path, name
        )
        return None
    logger.info("metrics per %r, as in training (the run's data.group_column)", name)
    return name
