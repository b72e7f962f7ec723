"""The end of a run: the trained model saved, its final evaluation, and the run folder's other files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from textfit.checks.base import CheckReport
from textfit.config.loading import save_config
from textfit.config.schema import RunConfig
from textfit.data.examples import Examples
from textfit.data.splits import Splits
from textfit.evaluation import Scored, score, write_split_predictions
from textfit.files import write_json_atomic, write_text_atomic
from textfit.inference.classifier import Classifier
from textfit.metrics import tune_thresholds
from textfit.modeling import quiet_transformers
from textfit.report.page import write_report
from textfit.runs.folder import finish_run
from textfit.runs.layout import CHECKPOINTS, CONFIG_FILE, partial_dir_of
from textfit.training.card import model_card
from textfit.training.fit import Fitted
from textfit.training.inputs import Tokenized, TrainingData

logger = logging.getLogger(__name__)


def save_model(fitted: Fitted, splits: Splits, window: bool, partial_dir: Path) -> Path:
    """Save the trained model (every process: DeepSpeed and FSDP gather the weights); returns its folder.

    Its config.json also holds what evaluate and predict read the same way: the columns, and how
    long texts were read (model.long_text "window").
    """
    cfg, model = fitted.cfg, fitted.model
    if window:
        model.config.textfit_long_text = {
            "mode": "window",
            "stride": cfg.model.stride,
            "aggregation": cfg.model.window_aggregation,
        }
    model.config.textfit_columns = {f"{role}_column": name for role, name in splits.columns.items()}
    model_dir = partial_dir / "model"
    with quiet_transformers():
        fitted.trainer.save_model(str(model_dir))
    return model_dir


def evaluate_splits(
    fitted: Fitted, tokenizer: Any, data: TrainingData, precision: str, model_dir: Path
) -> dict[str, Scored]:
    """Score the trained model on validation (and test) as `textfit evaluate` does, over every row.

    Multi-label: each label's threshold is tuned first, at its best validation F1, and saved with
    the model for prediction.
    """
    model, splits = fitted.model, data.splits
    if data.task.has_lists:
        model.config.textfit_label_delimiter = data.delimiter
    classifier = Classifier(
        model, tokenizer, batch_size=fitted.cfg.train.eval_batch_size, precision=precision
    )
    predicted, thresholds = {}, None
    if data.task.has_lists:  # a threshold per label of the lists
        validation = splits.validation
        predicted["validation"] = classifier.predict_proba(validation.texts, validation.text_pairs)
        truth = data.task.targets(validation, data.labels, data.delimiter)
        thresholds = tune_thresholds(truth, predicted["validation"])
        model.config.textfit_thresholds = dict(zip(data.labels.names, thresholds, strict=True))
        logger.info("label thresholds (tuned on validation): %s", model.config.textfit_thresholds)
        model.config.save_pretrained(str(model_dir))  # saved before the thresholds were known
    group = fitted.cfg.data.group_column
    return {
        split: score(classifier, examples, group, thresholds=thresholds, probabilities=predicted.get(split))
        for split, examples in _evaluated(splits).items()
    }


def save_run(
    fitted: Fitted,
    data: TrainingData,
    tokenized: Tokenized,
    checks: CheckReport,
    scored: dict[str, Scored],
    precision: str,
    run_dir: Path,
    warnings: list[str],
) -> tuple[dict[str, Any], Path | None]:
    """Write the run's files in RUN.partial, and move it into place as RUN.

    Returns:
        The metrics (metrics.json), and the report (None if it could not be written: said in warnings).
    """
    cfg, partial_dir = fitted.cfg, partial_dir_of(run_dir)
    model_dir = partial_dir / "model"
    metrics = _metrics(fitted, data, tokenized, checks, scored, precision)
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.yaml says it all
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(partial_dir / CHECKPOINTS, ignore_errors=True)
    save_config(cfg, partial_dir / CONFIG_FILE)
    write_json_atomic(partial_dir / "metrics.json", metrics)
    log_history = fitted.trainer.state.log_history
    write_json_atomic(partial_dir / "log_history.json", log_history)
    write_text_atomic(model_dir / "README.md", model_card(cfg, data.splits, data.labels, metrics))
    for split, examples in _evaluated(data.splits).items():
        path = partial_dir / f"predictions-{split}.parquet"
        write_split_predictions(path, examples, data.task, data.labels.names, scored[split])
    report_file = _write_report(partial_dir, run_dir, warnings)
    finish_run(partial_dir, run_dir)
    logger.info("saved the run to %s", run_dir)
    return metrics, report_file


def _evaluated(splits: Splits) -> dict[str, Examples]:
    """The splits of the final evaluation: validation, and test where there is one."""
    return {"validation": splits.validation} | ({"test": splits.test} if splits.test else {})


def _metrics(
    fitted: Fitted,
    data: TrainingData,
    tokenized: Tokenized,
    checks: CheckReport,
    scored: dict[str, Scored],
    precision: str,
) -> dict[str, Any]:
    """metrics.json: how the training went, and the validation (and test) reports."""
    cfg, samples, seconds = fitted.cfg, len(data.splits.train), fitted.seconds
    names, weights = data.labels.names, data.weights
    return {
        "train": {
            "samples": samples,
            "epochs": cfg.train.epochs,
            "runtime_seconds": round(seconds, 3),
            "samples_per_second": round(samples * cfg.train.epochs / seconds, 3),
            "final_loss": fitted.output.training_loss,
            "precision": precision,
            "device": fitted.trainer.args.device.type,
            "processes": fitted.trainer.args.world_size,
            "loss": cfg.train.loss,
            "class_weights": dict(zip(names, weights, strict=True)) if weights else None,
        },
        "task": data.task.name,
        **({"distillation": data.distillation} if data.distillation is not None else {}),
        **({"dataset": _dataset_entry(cfg, data.splits)} if cfg.data.dataset is not None else {}),
        "long_texts": tokenized.long_texts,
        "validation": scored["validation"].metrics,
        "test": scored["test"].metrics if "test" in scored else None,
        "checks": checks.to_dict(),
    }


def _dataset_entry(cfg: RunConfig, splits: Splits) -> dict[str, Any]:
    """metrics.json's "dataset": the data set's id (or folder), its config, and the split of each role."""
    return {
        "name": cfg.data.dataset,
        "config": cfg.data.dataset_config,
        "splits": splits.dataset_splits,
    }


def _write_report(partial_dir: Path, run_dir: Path, warnings: list[str]) -> Path | None:
    """The run's report.html; a failure costs the report (with a warning), never the trained model."""
    try:
        write_report(partial_dir, "validation", title=run_dir.name)
    except Exception as err:  # a bug in drawing: keep the run, and say how to retry
        logger.debug("writing the report failed", exc_info=True)
        warnings.append(f"could not write the report ({err!r}); retry with: textfit report {run_dir}")
        logger.warning(warnings[-1])
        return None
    return run_dir / "report.html"
