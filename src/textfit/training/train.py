"""Fine-tune a model on a labelled table with the Hugging Face Trainer, and save the run."""

from __future__ import annotations

import gc
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textfit.checks.labels import few_examples_advice
from textfit.checks.run import check_splits
from textfit.config.choices import LOWER_IS_BETTER
from textfit.config.loading import save_config, with_settings
from textfit.config.schema import RunConfig
from textfit.data.examples import Examples, Splits
from textfit.data.labels import LabelSet
from textfit.data.splits import load_splits
from textfit.data.tasks import (
    PROBLEM_TYPES,
    best_model_metric,
    label_matrix,
    label_occurrences,
    targets,
    task_labels,
)
from textfit.errors import ConfigError, ModelError, TextfitError
from textfit.files import write_text_atomic
from textfit.inference.batches import length_batches
from textfit.metrics import (
    classification_report,
    evaluation_report,
    multilabel_report,
    scalar_metrics,
    tune_thresholds,
)
from textfit.modeling import batch_tokens, load_pretrained, pad_multiple, pick_precision, quiet_transformers
from textfit.report.page import write_report
from textfit.report.predictions import write_predictions, write_task_predictions
from textfit.runs.folder import (
    check_inputs_outside,
    check_output_dir,
    check_written_by_textfit,
    finish_run,
    run_inputs,
)
from textfit.runs.layout import CHECKPOINTS, CONFIG_FILE, old_dir_of, partial_dir_of, write_marker
from textfit.runs.resume import discard_failed, discard_partial, resume_point
from textfit.tokenization import ProgressCallback, token_lengths, tokenize_examples, tokenize_windows
from textfit.training.losses import class_weights, loss_function
from textfit.training.tracking import check_trackers, use_mlflow_store, use_tensorboard_folder

if TYPE_CHECKING:
    from textfit.push import PushResult

logger = logging.getLogger(__name__)

# Batches per pool sorted by length (see length_bucket_order); None: the whole epoch is one pool.
# One pool: pads least, trains fastest, keeps macro-F1 (benchmarks/RESULTS.md, section 4, "One length pool").
LENGTH_POOL: int | None = None


@dataclass
class TrainResult:
    """What a training run produced: where it was saved, and its metrics."""

    run_dir: Path
    metrics: dict[str, Any]  # {"validation": report, "test": report or None, "train": {...}}
    precision: str
    warnings: list[str] = field(default_factory=list)
    report_file: Path | None = None  # RUN_DIR/report.html; None if it could not be written
    main_process: bool = True  # False in the other processes of a distributed run (they write nothing)
    pushed: PushResult | None = None  # with hub.push_to_hub: the run on the Hub
    push_error: TextfitError | None = None  # the run is saved, but pushing it failed (retry: textfit push)


def training_arguments(
    cfg: RunConfig, output_dir: Path, precision: str, progress: bool, task: str = "single_label"
) -> Any:
    """The one place the Trainer's TrainingArguments are built from a RunConfig."""
    import torch
    from transformers import TrainingArguments

    train = cfg.train
    best_metric = best_model_metric(train.metric_for_best_model, task)
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
        metric_for_best_model=best_metric,
        greater_is_better=best_metric not in LOWER_IS_BETTER,
        train_sampling_strategy="random",  # group_by_length: see length_bucket_order
        report_to=train.report_to,
        run_name=cfg.resolved_output_dir().name,  # the run's name in mlflow and the like
        log_level=train.log_level,
        seed=train.seed,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        ddp_backend=train.ddp_backend,
        deepspeed=train.deepspeed,
        fsdp=train.fsdp or None,
    )


def _compute_metrics(eval_prediction: Any, labels: LabelSet, task: str = "single_label") -> dict[str, float]:
    logits = eval_prediction.predictions
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
    truth = eval_prediction.label_ids
    if task == "multi_label":  # thresholds 0.5 while training; tuned on validation at the end
        report = multilabel_report(truth, 1.0 / (1.0 + np.exp(-logits)), list(labels.names))
    elif task == "regression":
        from textfit.metrics import regression_report

        report = regression_report(truth, logits[:, 0])
    else:
        report = classification_report(truth, logits, list(labels.names))
    return {**scalar_metrics(report), "samples": len(truth)}  # logged as eval_samples: every row counts


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


def _no_gather(tensors: Any) -> Any:
    return tensors


def _trainer_class(group_by_length: bool) -> Any:
    """The Trainer, its evaluation batches capped in padded tokens.

    With group_by_length, its training batches come from length_bucket_order.
    """
    import torch
    from transformers import Trainer

    from textfit.accel import fastpath

    class BudgetEvalTrainer(Trainer):  # a real need: the Trainer batches evaluation by rows only
        _loss_sums: list[tuple[float, int]]  # (sum of the batch's losses, rows) of one evaluation

        def _clip_grad_norm(self, model: Any) -> Any:
            # The CPU fast path keeps the word-embedding gradient, zero outside the rows written:
            # its norm and scaling need only those rows (one process, no fp16 loss scaling).
            # Under DDP or DataParallel the model comes wrapped (no get_input_embeddings): check first.
            embeddings = getattr(model, "get_input_embeddings", None)
            if (
                self.args.world_size > 1
                or getattr(self.accelerator, "scaler", None)
                or embeddings is None
                or not isinstance(embeddings(), fastpath.RowGradientEmbedding)
            ):
                return super()._clip_grad_norm(model)  # type: ignore[no-untyped-call]
            return fastpath.clip_grad_norm(model, self.args.max_grad_norm)

        def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
            # One process: the validation rows (sorted by length) in batches of at most
            # eval_batch_size rows and modeling.batch_tokens padded tokens: without the token cap the
            # last batch pads its texts to the longest of all and takes a large share of the time
            # (benchmarks/RESULTS.md, section 4).
            dataset: Any = self.eval_dataset if eval_dataset is None else eval_dataset
            if self.args.world_size > 1 or isinstance(dataset, str) or "length" not in dataset.column_names:
                return super().get_eval_dataloader(eval_dataset)
            batches = length_batches(
                token_lengths(dataset).tolist(),
                self.args.eval_batch_size,
                batch_tokens(self.args.device.type),
            )
            return torch.utils.data.DataLoader(
                self._remove_unused_columns(dataset, description="Evaluation"),
                batch_sampler=[batch.tolist() for batch in batches],  # shortest texts first
                collate_fn=self.data_collator,
                num_workers=self.args.dataloader_num_workers,
            )

        def prediction_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            loss, logits, labels = super().prediction_step(model, inputs, *args, **kwargs)
            if loss is not None and hasattr(self, "_loss_sums"):
                rows = len(inputs["input_ids"])
                self._loss_sums.append((float(loss) * rows, rows))
            return loss, logits, labels

        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            # The Trainer weighs each batch's mean loss as eval_batch_size rows; report the mean over
            # rows. One process only: with several, each sees its own shard (the Trainer gathers).
            if self.args.world_size > 1:
                return super().evaluation_loop(*args, **kwargs)
            # One process has nothing to gather. gather_for_metrics would trim each batch to the
            # remainder of the dataloader accelerate last saw end: the training one, mid-epoch.
            self.gather_function = _no_gather
            self._loss_sums = []
            output = super().evaluation_loop(*args, **kwargs)
            prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
            metrics: Any = output.metrics
            if self._loss_sums and metrics and f"{prefix}_loss" in metrics:
                metrics[f"{prefix}_loss"] = sum(total for total, _ in self._loss_sums) / sum(
                    rows for _, rows in self._loss_sums
                )
            del self._loss_sums
            return output

    if not group_by_length:
        return BudgetEvalTrainer

    class LengthBucketSampler(torch.utils.data.Sampler[int]):
        def __init__(self, lengths: list[int], batch_size: int, pool: int | None, seed: int) -> None:
            self.lengths, self.batch_size, self.pool = lengths, batch_size, pool
            self.seed, self.epoch = seed, 0

        def __len__(self) -> int:
            return len(self.lengths)

        def set_epoch(self, epoch: int) -> None:
            # Called by the Trainer before each epoch, also the one a resumed run starts in: the
            # order is a function of (seed, epoch), so a resumed run sees the batches it would have.
            self.epoch = epoch

        def __iter__(self) -> Any:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            return iter(length_bucket_order(self.lengths, self.batch_size, self.pool, generator))

    class LengthBucketTrainer(BudgetEvalTrainer):  # a real need: the Trainer takes no sampler argument
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


def _scores(model: Any, tokenizer: Any, examples: Examples, batch: int, precision: str) -> Any:
    """The model's probabilities (or values, for regression) for the examples, as Classifier gives them."""
    from textfit.inference.classifier import Classifier

    classifier = Classifier(model, tokenizer, batch_size=batch, precision=precision)
    return classifier.predict_proba(examples.texts, examples.text_pairs)


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
    ]
    data, kind = cfg.data, "file" if cfg.data.dataset is None else "split"
    if data.dataset is not None:
        config = f" (config `{data.dataset_config}`)" if data.dataset_config else ""
        lines.append(f"- data set: `{data.dataset}`{config}")
    held_out = splits.validation.data is splits.train.data
    lines += [
        f"- training {kind}: `{splits.train.source}` ({len(splits.train)} rows used"
        + (f", {splits.train.dropped} dropped" if splits.train.dropped else "")
        + ")",
        f"- validation: {len(splits.validation)} rows"
        + (
            f" (stratified {data.validation_split:g} of the training {kind}, seed {cfg.train.seed})"
            if held_out
            else f" from `{splits.validation.source}`"
        ),
    ]
    if splits.test is not None:
        lines.append(f"- test {kind}: `{splits.test.source}` ({len(splits.test)} rows)")
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
        f"| split | {' | '.join(CARD_METRICS[metrics['task']].values())} | samples |",
        "|---|" + "---:|" * (len(CARD_METRICS[metrics["task"]]) + 1),
    ]
    for split in ("validation", "test"):
        report = metrics.get(split)
        if report:
            shown = " | ".join(f"{report[key]:.4f}" for key in CARD_METRICS[metrics["task"]])
            lines.append(f"| {split} | {shown} | {report['samples']} |")
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


def _dataset_entry(cfg: RunConfig, splits: Splits) -> dict[str, Any]:
    """metrics.json's "dataset": the data set's id (or folder), its config, and the split of each role."""
    return {
        "name": cfg.data.dataset,
        "config": cfg.data.dataset_config,
        "splits": splits.dataset_splits,
    }


# The metrics in the model card's table, per task.
CARD_METRICS = {
    "single_label": {"accuracy": "accuracy", "f1_macro": "macro F1", "f1_weighted": "weighted F1"},
    "multi_label": {
        "f1_micro": "micro F1",
        "f1_macro": "macro F1",
        "subset_accuracy": "subset accuracy",
        "hamming_loss": "Hamming loss",
    },
    "regression": {"rmse": "RMSE", "mae": "MAE", "pearson": "Pearson", "spearman": "Spearman"},
}


def _barrier(args: Any) -> None:
    """Wait for every process of a distributed run (nothing to wait for in a single process)."""
    if args.world_size > 1:
        args.distributed_state.wait_for_everyone()


def _fit(
    build: Callable[[RunConfig, bool], Any], cfg: RunConfig, checkpoint: Path | None
) -> tuple[Any, Any, RunConfig]:
    """Train; out of GPU memory, again from the start with half the batch and twice the accumulation.

    Returns:
        The trainer, its TrainOutput, and the config it ran with (the batch sizes it ended with).

    Raises:
        ModelError: out of memory at batch size 1.
    """
    import torch

    fresh = False
    while True:
        trainer = build(cfg, fresh)
        try:
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        except torch.cuda.OutOfMemoryError:
            batch, steps = cfg.train.batch_size, cfg.train.gradient_accumulation_steps
            del trainer
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if batch == 1:
                raise ModelError(
                    f"out of GPU memory even with batch size 1 (gradient accumulation {steps})",
                    hint="pass a lower --max-length, --precision bf16 or fp16, or a smaller --model",
                ) from None
            update = {"batch_size": batch // 2, "gradient_accumulation_steps": steps * 2}
            cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=update)})
            logger.warning(
                "out of GPU memory with batch size %d: training again from the start with batch size %d "
                "and gradient accumulation %d (effective batch %d per device, was %d)",
                batch,
                batch // 2,
                steps * 2,
                batch // 2 * steps * 2,
                batch * steps,
            )
            checkpoint, fresh = None, True
        else:
            return trainer, output, cfg


def train(
    cfg: RunConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    resume: str | Path | None = None,
    inputs: Sequence[str | Path] = (),
    **settings: Any,
) -> TrainResult:
    """Fine-tune cfg.model.name on cfg.data and save the run to its output folder.

    `train(train_file="data.csv", epochs=2)` is the same as building the config first. The run is
    written to RUN.partial (its textfit-run.json and config first, then checkpoints) and renamed to
    RUN when complete; a run that fails before its first complete checkpoint leaves no RUN.partial.

    Args:
        cfg: the run configuration (see `textfit.load_config`); defaults when None.
        overwrite: replace an existing run folder, if textfit wrote it and it holds nothing else
            (its textfit-run.json); the old run is removed once the new one is complete. A folder
            that holds an input of the run (data files, the model folder, `inputs`) is never replaced.
        progress: show the Trainer's progress bars (on stderr).
        callbacks: extra transformers TrainerCallbacks.
        tokenize_progress: called with (texts tokenized, texts in all) while each split is tokenized.
        resume: the folder of an interrupted run (RUN or RUN.partial): continue it from its last
            complete checkpoint with its saved settings; cfg and settings, if given, must agree.
        inputs: other files the caller read the settings from (the CLI's --config file).
        **settings: settings by name (train_file, model, epochs, ...), over those of cfg.

    Returns:
        TrainResult with the run folder and the validation (and test) metrics; with
        hub.push_to_hub, the push (`pushed`), or why it failed (`push_error`: the run stays saved).

    Raises:
        DataError, ModelError, ConfigError, HubError: naming what is wrong and how to fix it.
    """
    checkpoint = None
    if resume is not None:
        cfg, checkpoint = resume_point(Path(resume), cfg, settings)
        run_dir = cfg.resolved_output_dir()
        logger.info("resuming %s from %s", run_dir, checkpoint)
        hint = f"move that folder away, then resume; the interrupted run stays in {partial_dir_of(run_dir)}"
        check_inputs_outside([run_dir, old_dir_of(run_dir)], [*run_inputs(cfg), *inputs], hint)
        for folder in (run_dir, old_dir_of(run_dir)):  # replaced by the resumed run when it finishes
            check_written_by_textfit(folder, hint)
    else:
        if cfg is None or settings:
            cfg = with_settings(cfg, settings)
        cfg = cfg.with_absolute_paths()
        run_dir = cfg.resolved_output_dir()
        check_output_dir(run_dir, overwrite, [*run_inputs(cfg), *inputs])
    logger.debug("settings: %s", json.dumps(cfg.model_dump(mode="json")))
    check_trackers(cfg.train.report_to)
    if cfg.hub.push_to_hub:  # no token, or offline: say so before an hour of training
        from textfit.push import check_push_ready

        check_push_ready(run_dir, cfg.hub.push_to_hub, private=cfg.hub.private)
    precision = pick_precision(cfg.train.precision)
    if cfg.train.precision == "auto":
        logger.info("precision: %s (auto: the fastest this hardware runs well)", precision)
    partial_dir = partial_dir_of(run_dir)
    # The processes' roles before the data is read; the task, and so its metric, is known only after.
    any_task = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"metric_for_best_model": "loss"})}
    )
    args = training_arguments(any_task, partial_dir / CHECKPOINTS, precision, progress)
    main = args.should_save  # in a distributed run, only the main process writes the run folder
    if main and checkpoint is None:
        discard_partial(partial_dir)
        write_marker(partial_dir, "train")  # first: the folder is textfit's (see run_folder)
        save_config(cfg, partial_dir / CONFIG_FILE)  # then what --resume reads
    try:
        return _train_and_save(
            cfg, run_dir, checkpoint, args, precision, progress, callbacks, tokenize_progress
        )
    except BaseException:
        if main:  # keep RUN.partial only where --resume can continue it
            discard_failed(partial_dir)
        raise


def _train_and_save(
    cfg: RunConfig,
    run_dir: Path,
    checkpoint: Path | None,
    args: Any,
    precision: str,
    progress: bool,
    callbacks: list[Any] | None,
    tokenize_progress: ProgressCallback | None,
) -> TrainResult:
    """train() once its RUN.partial folder exists: read the data, fine-tune, evaluate, save the run."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from textfit.accel import fastpath

    partial_dir = partial_dir_of(run_dir)
    main = args.should_save
    _barrier(args)
    set_seed(cfg.train.seed)

    splits = load_splits(cfg.data, cfg.train.seed, cfg.model.task)
    task, delimiter = splits.task, splits.label_delimiter
    labels = task_labels(task, splits.train, delimiter, splits.columns["label"] or "label")
    logger.info(
        "task: %s (%s)%s",
        task,
        "detected" if cfg.model.task == "auto" else "model.task",
        f", labels joined by {delimiter!r}" if delimiter else "",
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
    if task != "single_label" and (cfg.train.class_weights != "none" or cfg.train.loss != "cross_entropy"):
        raise ConfigError(
            f"train.class_weights and train.loss apply to single-label classification, not to {task}",
            hint="leave out --class-weights and --loss for this task",
        )
    train_label_ids = targets(task, splits.train, labels, delimiter)
    args = training_arguments(cfg, partial_dir / CHECKPOINTS, precision, progress, task)  # checks the metric
    weights = class_weights(cfg.train.class_weights, labels.names, train_label_ids)
    if weights is not None or cfg.train.loss != "cross_entropy":
        logger.info(
            "loss: %s%s",
            cfg.train.loss + (f" (gamma {cfg.train.focal_gamma:g})" if cfg.train.loss == "focal" else ""),
            ", class weights " + ", ".join(f"{n} {w:.4g}" for n, w in zip(labels.names, weights, strict=True))
            if weights
            else "",
        )
    max_length = cfg.model.max_length
    cache = cfg.data.cache
    validation_targets = targets(task, splits.validation, labels, delimiter)
    window = cfg.model.long_text == "window"
    long_texts = None
    # The main process extracts the model and fills the tokenization cache; the others then read them.
    with args.main_process_first(desc="tokenization"):
        tokenizer, model = load_pretrained(cfg.model, labels.id2label, labels.label2id, PROBLEM_TYPES[task])
        if window:  # texts over max_length: overlapping windows, each with its text's label
            train_dataset, window_rows = tokenize_windows(
                splits.train, tokenizer, max_length, cfg.model.stride, train_label_ids
            )
            validation_dataset, _ = tokenize_windows(
                splits.validation, tokenizer, max_length, cfg.model.stride, validation_targets
            )
        else:
            train_dataset = tokenize_examples(
                splits.train,
                tokenizer,
                max_length,
                train_label_ids,
                cache=cache,
                progress=tokenize_progress,
            )
            validation_dataset = tokenize_examples(
                splits.validation,
                tokenizer,
                max_length,
                validation_targets,
                cache=cache,
                progress=tokenize_progress,
            )
    if window:
        windows_per_text = np.bincount(window_rows, minlength=len(splits.train))
        long_texts = {
            "longer_than_max_length": int((windows_per_text > 1).sum()),
            "windows": len(window_rows),
        }
        logger.info(
            "long texts: %d of %d training texts are longer than max_length %d: %d windows (stride %d)",
            long_texts["longer_than_max_length"],
            len(splits.train),
            max_length,
            len(window_rows),
            cfg.model.stride,
        )
    # The metrics ignore the order, and batches of similar length pad less.
    by_length = np.argsort(token_lengths(validation_dataset), kind="stable")
    validation_dataset = validation_dataset.select(by_length)
    # The checks of `textfit check`, with the token counts of the training set just tokenized.
    checks = check_splits(
        splits,
        max_length=max_length,
        group_column=cfg.data.group_column,
        lengths=None if window else token_lengths(train_dataset),  # windows: counted above
        lengths_cut=True,
    )
    checks.raise_on_failure()
    warnings = checks.warnings
    advice = few_examples_advice(  # rows per class, or per label of the lists; none for regression
        label_occurrences(task, splits.train, delimiter),
        cfg.train.epochs,
        cfg.train.batch_size,
        cfg.model.name,
    )
    warnings += [advice] if advice else []
    for warning in warnings:
        logger.warning(warning)
    logger.info("data checks: %s", checks.tally())

    if "mlflow" in cfg.train.report_to:
        use_mlflow_store()  # before the Trainer builds its MLflowCallback

    def build(cfg: RunConfig, fresh: bool) -> Any:
        nonlocal model, args
        if fresh:  # a retry with other batch sizes starts again from the pretrained weights
            set_seed(cfg.train.seed)
            _, model = load_pretrained(cfg.model, labels.id2label, labels.label2id, PROBLEM_TYPES[task])
            args = training_arguments(cfg, partial_dir / CHECKPOINTS, precision, progress, task)
            if main:
                shutil.rmtree(partial_dir / CHECKPOINTS, ignore_errors=True)
                save_config(cfg, partial_dir / CONFIG_FILE)
        model.get_input_embeddings().weight.requires_grad_(not cfg.train.freeze_embeddings)
        if cfg.train.cpu_fast_path and not torch.cuda.is_available():
            switched = fastpath.enable(model)
            logger.info("CPU fast path for %s (train.cpu_fast_path)", ", ".join(switched) or "nothing")
        trainer = _trainer_class(cfg.train.group_by_length)(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=validation_dataset,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple()),
            compute_metrics=partial(_compute_metrics, labels=labels, task=task),
            compute_loss_func=loss_function(weights, cfg.train.loss, cfg.train.focal_gamma),
            callbacks=list(callbacks or []),
        )
        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)  # added instead when disable_tqdm; prints to stdout
        if progress:
            trainer.add_callback(_progress_callback())
        use_tensorboard_folder(trainer, partial_dir / "tensorboard")
        if cfg.train.early_stopping_patience is not None:
            trainer.add_callback(EarlyStoppingCallback(cfg.train.early_stopping_patience))
        return trainer

    started = time.perf_counter()
    trainer, output, cfg = _fit(build, cfg, checkpoint)
    train_seconds = time.perf_counter() - started
    fastpath.disable(model)
    if window:  # saved with the model, so that evaluate and predict read windows too
        model.config.textfit_long_text = {
            "mode": "window",
            "stride": cfg.model.stride,
            "aggregation": cfg.model.window_aggregation,
        }

    # With load_best_model_at_end the Trainer has loaded the best checkpoint's weights into model.
    model.config.textfit_columns = {  # so evaluate / predict read the same columns by default
        f"{role}_column": name for role, name in splits.columns.items()
    }
    model_dir = partial_dir / "model"
    with quiet_transformers():
        trainer.save_model(str(model_dir))  # every process: DeepSpeed / FSDP gather the weights
    if not main:  # the main process evaluates over every validation row, and writes the run
        _barrier(args)
        written = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        return TrainResult(run_dir, written, precision, warnings, main_process=False)
    batch = cfg.train.eval_batch_size
    evaluated = {"validation": splits.validation} | ({"test": splits.test} if splits.test else {})
    scores = {
        split: _scores(model, tokenizer, examples, batch, precision) for split, examples in evaluated.items()
    }
    thresholds = None
    if task == "multi_label":  # each label's threshold, at its best validation F1; used in prediction
        thresholds = tune_thresholds(label_matrix(splits.validation, labels, delimiter), scores["validation"])
        model.config.textfit_thresholds = dict(zip(labels.names, thresholds, strict=True))
        model.config.textfit_label_delimiter = delimiter
        logger.info("label thresholds (tuned on validation): %s", model.config.textfit_thresholds)
        model.config.save_pretrained(str(model_dir))  # saved above, before the thresholds were known
    results = {
        split: (
            evaluation_report(
                task, labels, examples, scores[split], delimiter, thresholds, cfg.data.group_column
            ),
            scores[split],
        )
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
            "processes": args.world_size,
            "loss": cfg.train.loss,
            "class_weights": dict(zip(labels.names, weights, strict=True)) if weights else None,
        },
        "task": task,
        **({"dataset": _dataset_entry(cfg, splits)} if cfg.data.dataset is not None else {}),
        "long_texts": long_texts,
        "validation": results["validation"][0],
        "test": results["test"][0] if "test" in results else None,
        "checks": checks.to_dict(),
    }
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.yaml says it all
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(partial_dir / CHECKPOINTS, ignore_errors=True)
    save_config(cfg, partial_dir / CONFIG_FILE)
    write_text_atomic(partial_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(
        partial_dir / "log_history.json", json.dumps(trainer.state.log_history, indent=2) + "\n"
    )
    write_text_atomic(model_dir / "README.md", _model_card(cfg, splits, labels, metrics))
    for split, (_, probabilities) in results.items():
        predictions_file = partial_dir / f"predictions-{split}.parquet"
        if task == "single_label":
            write_predictions(predictions_file, evaluated[split], labels.names, probabilities)
        else:
            truth = targets(task, evaluated[split], labels, delimiter)
            write_task_predictions(
                predictions_file, task, evaluated[split], labels.names, probabilities, truth, thresholds
            )
    report_file = _write_report(partial_dir, run_dir, warnings)
    finish_run(partial_dir, run_dir)
    logger.info("saved the run to %s", run_dir)
    _barrier(args)  # before a push, which may outlast the other processes' wait
    pushed, push_error = None, None
    if cfg.hub.push_to_hub:  # the main process only; a failure keeps the saved run
        from textfit.push import push_run

        try:
            pushed = push_run(run_dir, cfg.hub.push_to_hub, private=cfg.hub.private)
        except TextfitError as err:
            push_error = err
    return TrainResult(
        run_dir, metrics, precision, warnings, report_file, pushed=pushed, push_error=push_error
    )
