"""Evaluate a saved run on a labelled table: metrics (JSON), predictions and a report, beside the run."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textfit.config.schema import DataConfig
from textfit.data.examples import find_columns, find_group_column, with_trained_columns
from textfit.data.labels import LabelSet, check_label_map
from textfit.data.reading import read_table
from textfit.data.rows import table_examples
from textfit.data.tables import Table
from textfit.data.tasks import targets
from textfit.errors import ConfigError
from textfit.files import write_text_atomic
from textfit.inference.classifier import Classifier, ProgressCallback
from textfit.metrics import evaluation_report
from textfit.report.page import write_report
from textfit.report.predictions import write_predictions, write_task_predictions

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
    cfg = cfg or DataConfig()
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
    labels = LabelSet(tuple(classifier.labels))
    task = classifier.task
    delimiter = classifier.label_delimiter if task == "multi_label" else None
    thresholds = classifier.thresholds.tolist() if task == "multi_label" else None
    truth = targets(task, examples, labels, delimiter)  # unknown labels fail before any prediction
    probabilities = classifier.predict_proba(examples.texts, examples.text_pairs, progress)
    metrics = evaluation_report(task, labels, examples, probabilities, delimiter, thresholds, group)
    metrics["task"] = task
    metrics["file"] = str(data_file)
    metrics["dropped_rows"] = examples.dropped
    metrics["precision"] = classifier.precision
    write_text_atomic(path, json.dumps(metrics, indent=2) + "\n")
    predictions_file = path.with_name(f"{path.stem}.predictions.parquet")
    if task == "single_label":
        predictions = write_predictions(predictions_file, examples, labels.names, probabilities)
    else:
        predictions = write_task_predictions(
            predictions_file, task, examples, labels.names, probabilities, truth, thresholds
        )
    report_file = None
    if report:
        name = data_file.stem
        report_file = write_report(
            run_dir,
            name,
            metrics=metrics,
            predictions=predictions,
            output=path.parent / f"report-{name}.html",
        )
    return EvalReport(data_file, metrics, path, predictions, report_file)


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
    import yaml

    try:
        saved = yaml.safe_load((run_dir / "run_config.yaml").read_text(encoding="utf-8"))
        data = saved["data"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
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
