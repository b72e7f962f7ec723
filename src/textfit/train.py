"""Fine-tune a model on a labelled table with the Hugging Face Trainer, and save the run."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from textfit.checks import check_splits, few_examples_advice
from textfit.config import RunConfig, save_config, with_settings, write_text_atomic
from textfit.data import Examples, LabelSet, Splits, load_splits
from textfit.errors import ConfigError
from textfit.metrics import classification_report, group_reports, scalar_metrics
from textfit.modeling import load_pretrained, pad_multiple, pick_precision, quiet_transformers
from textfit.report import write_predictions, write_report
from textfit.tokenization import ProgressCallback, token_lengths, tokenize_examples
from textfit.tracking import check_trackers, use_mlflow_store, use_tensorboard_folder

logger = logging.getLogger(__name__)

# Batches per pool sorted by length (see length_bucket_order); None: the whole epoch is one pool.
# 1 epoch, seeds 42 and 1 (benchmarks/RESULTS.md): on SMS spam one pool padded 1.04x the real tokens
# against 1.38x with pools of 16, trained 1.4x faster and kept the macro-F1 (0.973 against 0.969);
# on AG News 1.2x faster, macro-F1 0.906 against 0.906.
LENGTH_POOL: int | None = None


@dataclass
class TrainResult:
    """What a training run produced: where it was saved, and its metrics."""

    run_dir: Path
    metrics: dict[str, Any]  # {"validation": report, "test": report or None, "train": {...}}
    precision: str
    warnings: list[str] = field(default_factory=list)
    report_file: Path | None = None  # RUN_DIR/report.html; None if it could not be written


def check_output_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse to replace an existing run unless asked to.

    Raises:
        ConfigError: run_dir is a file, or exists, is not empty, and overwrite is False.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file", hint="pass --output-dir with a folder path")
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise ConfigError(
            f"run folder {run_dir} already exists",
            hint="pass --overwrite to replace it, or --output-dir to write somewhere else",
        )


def training_arguments(cfg: RunConfig, output_dir: Path, precision: str, progress: bool) -> Any:
    """The one place the Trainer's TrainingArguments are built from a RunConfig."""
    import torch
    from transformers import TrainingArguments

    train = cfg.train
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the steps
        weight_decay=train.weight_decay,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_grad_norm=train.max_grad_norm,
        eval_strategy=train.eval_strategy,
        eval_steps=train.eval_steps,
        save_strategy=train.save_strategy,
        save_steps=train.save_steps or 500,  # used only with save_strategy "steps"
        save_total_limit=1,
        logging_strategy=train.logging_strategy,
        logging_steps=train.logging_steps,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        load_best_model_at_end=train.load_best_model_at_end and train.eval_strategy != "no",
        metric_for_best_model=train.metric_for_best_model,
        train_sampling_strategy="random",  # group_by_length: see length_bucket_order
        report_to=train.report_to,
        run_name=cfg.resolved_output_dir().name,  # the run's name in mlflow and the like
        log_level=train.log_level,
        seed=train.seed,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )


def _compute_metrics(eval_prediction: Any, labels: LabelSet) -> dict[str, float]:
    logits = eval_prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    report = classification_report(eval_prediction.label_ids, np.asarray(logits), list(labels.names))
    return scalar_metrics(report)


def length_bucket_order(lengths: list[int], batch_size: int, pool: int | None, generator: Any) -> list[int]:
    """An epoch's order of examples: batches of similar length, the batches in random order.

    Shuffle, cut into pools of `pool` batches (None: one pool of all rows), sort each pool by length
    (stable: rows of equal length stay shuffled) and cut it into batches, then shuffle the full
    batches (a short last batch stays last, so that batches stay aligned).
    Unlike the Trainer's LengthGroupedSampler, whose batches run from the longest to the shortest
    in each mega-batch of 50, this keeps the batch order random: when length goes with the label
    (long spam, short ham) a long-to-short sweep feeds one class at a time and costs accuracy.
    """
    import torch

    indices = torch.randperm(len(lengths), generator=generator).tolist()
    span = len(indices) if pool is None else pool * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(indices), span):
        chunk = sorted(indices[start : start + span], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    short = [batch for batch in batches if len(batch) < batch_size]
    full = [batch for batch in batches if len(batch) == batch_size]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return [index for batch in shuffled + short for index in batch]


def _trainer_class(group_by_length: bool) -> Any:
    """The Trainer; with group_by_length, its training batches come from length_bucket_order."""
    import torch
    from transformers import Trainer

    if not group_by_length:
        return Trainer

    class LengthBucketSampler(torch.utils.data.Sampler[int]):
        def __init__(self, lengths: list[int], batch_size: int, pool: int | None, seed: int) -> None:
            self.lengths, self.batch_size, self.pool = lengths, batch_size, pool
            self.seed, self.epoch = seed, 0

        def __len__(self) -> int:
            return len(self.lengths)

        def __iter__(self) -> Any:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            self.epoch += 1
            return iter(length_bucket_order(self.lengths, self.batch_size, self.pool, generator))

    class LengthBucketTrainer(Trainer):  # a real need: the Trainer takes no sampler argument
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            # The dataset passed in has lost its unused columns, "length" among them; same row order.
            dataset: Any = self.train_dataset
            lengths = token_lengths(dataset).tolist()  # list(dataset["length"]) reads row by row
            return LengthBucketSampler(lengths, self.args.train_batch_size, LENGTH_POOL, self.args.seed)

    return LengthBucketTrainer


def _progress_callback() -> Any:
    """The Trainer's progress bars (on stderr), with loss, learning rate and samples/s in the bar.

    Validation metrics are written as a line above the bar after each evaluation; stdout is for results.
    """
    from transformers.trainer_callback import ProgressCallback

    class StderrProgress(ProgressCallback):
        started = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            super().on_train_begin(args, state, control, **kwargs)  # type: ignore[no-untyped-call]
            if self.training_bar is not None:
                self.training_bar.set_description("training")
            self.started = time.perf_counter()

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero or self.training_bar is None or not logs:
                return
            if "loss" in logs:
                samples = state.global_step * args.train_batch_size * args.gradient_accumulation_steps
                elapsed = time.perf_counter() - self.started
                shown = {"loss": f"{logs['loss']:.4g}", "lr": f"{logs.get('learning_rate', 0.0):.3g}"}
                if elapsed > 0:
                    shown["samples/s"] = f"{samples / elapsed:.1f}"
                self.training_bar.set_postfix(shown)
            if "eval_loss" in logs:
                best = args.metric_for_best_model.removeprefix("eval_")
                metrics = ", ".join(
                    f"{key} {logs[f'eval_{key}']:.4g}"
                    for key in dict.fromkeys(["loss", "accuracy", "f1_macro", best])
                    if isinstance(logs.get(f"eval_{key}"), float)
                )
                self.training_bar.write(
                    f"epoch {state.epoch:.3g}, step {state.global_step}: {metrics}", file=sys.stderr
                )

    return StderrProgress


def _evaluate(
    model: Any,
    tokenizer: Any,
    examples: Examples,
    labels: LabelSet,
    batch: int,
    precision: str,
    group_column: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """The metrics of the examples, and the class probabilities they come from."""
    from textfit.predict import Classifier

    classifier = Classifier(model, tokenizer, batch_size=batch, precision=precision)
    probabilities = classifier.predict_proba(examples.texts, examples.text_pairs)
    label_ids = labels.encode(examples)
    report = classification_report(label_ids, probabilities, list(labels.names))
    if "group" in examples.data.column_names:  # data.group_column: every metric per group too
        groups = examples.column("group").to_pylist()
        report["groups"] = group_reports(label_ids, probabilities, list(labels.names), groups)
        report["group_column"] = group_column
    return report, probabilities


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


def _model_card(cfg: RunConfig, splits: Splits, labels: LabelSet, metrics: dict[str, Any]) -> str:
    """README.md of the model folder: data, settings and metrics."""
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [textfit, text-classification]",
        "---",
        "",
        f"# Text classifier fine-tuned from `{cfg.model.name}` with textfit",
        "",
        "## Data",
        f"- training file: `{cfg.data.train_file}` ({len(splits.train)} rows used"
        + (f", {splits.train.dropped} dropped" if splits.train.dropped else "")
        + ")",
        f"- validation: {len(splits.validation)} rows"
        + (
            f" from `{cfg.data.validation_file}`"
            if cfg.data.validation_file
            else f" (stratified {cfg.data.validation_split:g} of the training file, seed {cfg.train.seed})"
        ),
    ]
    if splits.test is not None:
        lines.append(f"- test file: `{cfg.data.test_file}` ({len(splits.test)} rows)")
    lines += [
        f"- columns: text `{splits.columns['text']}`"
        + (f", text pair `{splits.columns['text_pair']}`" if splits.columns["text_pair"] else "")
        + f", label `{splits.columns['label']}`",
        f"- labels ({len(labels)}): " + ", ".join(f"`{name}`" for name in labels.names),
        "",
        "## Settings",
        f"epochs {cfg.train.epochs:g}, learning rate {cfg.train.learning_rate:g}, batch size "
        f"{cfg.train.batch_size}, max length {cfg.model.max_length}, precision "
        f"{metrics['train']['precision']}, seed {cfg.train.seed}. All settings: `run_config.yaml`.",
        "",
        "## Metrics",
        "",
        "| split | accuracy | macro F1 | weighted F1 | samples |",
        "|---|---:|---:|---:|---:|",
    ]
    for split in ("validation", "test"):
        report = metrics.get(split)
        if report:
            lines.append(
                f"| {split} | {report['accuracy']:.4f} | {report['f1_macro']:.4f} | "
                f"{report['f1_weighted']:.4f} | {report['samples']} |"
            )
    lines += [
        "",
        "## Use",
        "```python",
        "from transformers import pipeline",
        'classify = pipeline("text-classification", model="path/to/this/folder")',
        'classify("your text here", truncation=True)',
        "```",
        "or `textfit predict RUN_DIR input.csv -o predictions.csv`.",
        "",
    ]
    return "\n".join(lines)


def _finish_run(partial_dir: Path, run_dir: Path) -> None:
    """Move the finished run into place; an old run it replaces is removed only after that."""
    old = run_dir.with_name(run_dir.name + ".old")
    if run_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        run_dir.rename(old)
    partial_dir.rename(run_dir)
    shutil.rmtree(old, ignore_errors=True)


def _absolute_paths(cfg: RunConfig) -> RunConfig:
    """The config with its data files as absolute paths, so the saved copy works from anywhere."""
    files = {
        key: Path(value).resolve()
        for key in ("train_file", "validation_file", "test_file")
        if (value := getattr(cfg.data, key)) is not None
    }
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=files)})


def train(
    cfg: RunConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    **settings: Any,
) -> TrainResult:
    """Fine-tune cfg.model.name on cfg.data and save the run to its output folder.

    `train(train_file="data.csv", epochs=2)` is the same as building the config first.

    Args:
        cfg: the run configuration (see `textfit.load_config`); defaults when None.
        overwrite: replace an existing run folder.
        progress: show the Trainer's progress bars (on stderr).
        callbacks: extra transformers TrainerCallbacks.
        tokenize_progress: called with (texts tokenized, texts in all) while each split is tokenized.
        **settings: settings by name (train_file, model, epochs, ...), over those of cfg.

    Returns:
        TrainResult with the run folder and the validation (and test) metrics.

    Raises:
        DataError, ModelError, ConfigError: naming what is wrong and how to fix it.
    """
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from textfit import fastpath

    if cfg is None or settings:
        cfg = with_settings(cfg, settings)
    cfg = _absolute_paths(cfg)
    logger.debug("settings: %s", json.dumps(cfg.model_dump(mode="json")))
    run_dir = cfg.resolved_output_dir()
    check_output_dir(run_dir, overwrite)
    check_trackers(cfg.train.report_to)
    precision = pick_precision(cfg.train.precision)
    if cfg.train.precision == "auto":
        logger.info("precision: %s (auto: the fastest this hardware runs well)", precision)
    set_seed(cfg.train.seed)

    splits = load_splits(cfg.data, cfg.train.seed)
    labels = LabelSet.from_labels(splits.train.labels)
    logger.info(
        "columns: text %r, label %r%s; %d labels; %d training, %d validation rows",
        splits.columns["text"],
        splits.columns["label"],
        f", text pair {splits.columns['text_pair']!r}" if splits.columns["text_pair"] else "",
        len(labels),
        len(splits.train),
        len(splits.validation),
    )
    tokenizer, model = load_pretrained(cfg.model, labels.id2label, labels.label2id)
    if cfg.train.cpu_fast_path and not torch.cuda.is_available():
        switched = fastpath.enable(model)
        logger.info("CPU fast path for %s (train.cpu_fast_path)", " and ".join(switched) or "nothing")
    max_length = cfg.model.max_length
    cache = cfg.data.cache
    train_dataset = tokenize_examples(
        splits.train,
        tokenizer,
        max_length,
        labels.encode(splits.train),
        cache=cache,
        progress=tokenize_progress,
    )
    validation_dataset = tokenize_examples(
        splits.validation,
        tokenizer,
        max_length,
        labels.encode(splits.validation),
        cache=cache,
        progress=tokenize_progress,
    )
    # The metrics ignore the order, and batches of similar length pad less.
    by_length = np.argsort(token_lengths(validation_dataset), kind="stable")
    validation_dataset = validation_dataset.select(by_length)
    # The checks of `textfit check`, with the token counts of the training set just tokenized.
    checks = check_splits(
        splits,
        max_length=max_length,
        group_column=cfg.data.group_column,
        lengths=token_lengths(train_dataset),
        lengths_cut=True,
    )
    checks.raise_on_failure()
    warnings = checks.warnings
    advice = few_examples_advice(
        splits.train.label_counts(), cfg.train.epochs, cfg.train.batch_size, cfg.model.name
    )
    warnings += [advice] if advice else []
    for warning in warnings:
        logger.warning(warning)
    logger.info("data checks: %s", checks.tally())

    partial_dir = run_dir.with_name(run_dir.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)  # left by an interrupted run
    if "mlflow" in cfg.train.report_to:
        use_mlflow_store()  # before the Trainer builds its MLflowCallback
    trainer = _trainer_class(cfg.train.group_by_length)(
        model=model,
        args=training_arguments(cfg, partial_dir / "checkpoints", precision, progress),
        train_dataset=train_dataset,
        eval_dataset=validation_dataset,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple()),
        compute_metrics=partial(_compute_metrics, labels=labels),
        callbacks=list(callbacks or []),
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # added instead when disable_tqdm; prints to stdout
    if progress:
        trainer.add_callback(_progress_callback())
    use_tensorboard_folder(trainer, partial_dir / "tensorboard")
    if cfg.train.early_stopping_patience is not None:
        trainer.add_callback(EarlyStoppingCallback(cfg.train.early_stopping_patience))
    started = time.perf_counter()
    output = trainer.train()
    train_seconds = time.perf_counter() - started
    fastpath.disable(model)

    # With load_best_model_at_end the Trainer has loaded the best checkpoint's weights into model.
    model.config.textfit_columns = {  # so evaluate / predict read the same columns by default
        f"{role}_column": name for role, name in splits.columns.items()
    }
    batch = cfg.train.eval_batch_size
    evaluated = {"validation": splits.validation} | ({"test": splits.test} if splits.test else {})
    results = {
        split: _evaluate(model, tokenizer, examples, labels, batch, precision, cfg.data.group_column)
        for split, examples in evaluated.items()
    }
    metrics: dict[str, Any] = {
        "train": {
            "samples": len(splits.train),
            "epochs": cfg.train.epochs,
            "runtime_seconds": round(train_seconds, 3),
            "samples_per_second": round(len(splits.train) * cfg.train.epochs / train_seconds, 3),
            "final_loss": output.training_loss,
            "precision": precision,
        },
        "validation": results["validation"][0],
        "test": results["test"][0] if "test" in results else None,
        "checks": checks.to_dict(),
    }
    model_dir = partial_dir / "model"
    with quiet_transformers():
        trainer.save_model(str(model_dir))  # safetensors weights, config with id2label, tokenizer
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.yaml says it all
    shutil.rmtree(partial_dir / "checkpoints", ignore_errors=True)
    save_config(cfg, partial_dir / "run_config.yaml")
    write_text_atomic(partial_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(
        partial_dir / "log_history.json", json.dumps(trainer.state.log_history, indent=2) + "\n"
    )
    write_text_atomic(model_dir / "README.md", _model_card(cfg, splits, labels, metrics))
    for split, (_, probabilities) in results.items():
        write_predictions(
            partial_dir / f"predictions-{split}.parquet", evaluated[split], labels.names, probabilities
        )
    report_file = _write_report(partial_dir, run_dir, warnings)
    _finish_run(partial_dir, run_dir)
    logger.info("saved the run to %s", run_dir)
    return TrainResult(run_dir, metrics, precision, warnings, report_file)
