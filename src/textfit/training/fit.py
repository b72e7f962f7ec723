"""Fit: build the Trainer of a run and train; out of GPU memory, again from the start with smaller batches."""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textfit.config.loading import save_config
from textfit.config.schema import RunConfig
from textfit.errors import ModelError
from textfit.modeling import load_pretrained, pad_multiple
from textfit.runs.layout import CHECKPOINTS, CONFIG_FILE, partial_dir_of
from textfit.training.arguments import with_batch_size
from textfit.training.inputs import Tokenized, TrainingData
from textfit.training.losses import loss_function
from textfit.training.tracking import use_mlflow_store, use_tensorboard_folder

logger = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A trained model, the Trainer that trained it, and how the training went."""

    trainer: Any
    model: Any  # with load_best_model_at_end, the best checkpoint's weights
    output: Any  # the Trainer's TrainOutput
    cfg: RunConfig  # the settings it ended with: smaller batches after running out of memory
    seconds: float  # training time, retries included


def fit(
    cfg: RunConfig,
    args: Any,
    model: Any,
    tokenizer: Any,
    data: TrainingData,
    tokenized: Tokenized,
    checkpoint: Path | None,
    callbacks: list[Any] | None,
    progress: bool,
    main: bool,
) -> Fitted:
    """Train the model; out of GPU memory, again from the pretrained weights with smaller batches.

    Half the batch and twice the gradient accumulation: the same effective batch.

    Raises:
        ModelError: out of GPU memory at batch size 1.
    """
    import torch

    partial_dir = partial_dir_of(cfg.resolved_output_dir())
    if "mlflow" in cfg.train.report_to:
        use_mlflow_store()  # before the Trainer builds its MLflowCallback
    started = time.perf_counter()
    while True:
        trainer, restore = build_trainer(cfg, args, model, tokenizer, data, tokenized, callbacks, progress)
        try:
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        except torch.cuda.OutOfMemoryError:
            del trainer
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            cfg = _smaller_batches(cfg)
            args = with_batch_size(args, cfg.train.batch_size, cfg.train.gradient_accumulation_steps)
            model = _pretrained(cfg, data)
            if main:
                shutil.rmtree(partial_dir / CHECKPOINTS, ignore_errors=True)
                save_config(cfg, partial_dir / CONFIG_FILE)
            checkpoint = None
        else:
            seconds = time.perf_counter() - started
            restore()  # the model is evaluated and saved as it would be without the fast path
            return Fitted(trainer, model, output, cfg, seconds)


def build_trainer(
    cfg: RunConfig,
    args: Any,
    model: Any,
    tokenizer: Any,
    data: TrainingData,
    tokenized: Tokenized,
    callbacks: list[Any] | None,
    progress: bool,
) -> tuple[Any, Callable[[], None]]:
    """The Trainer of a run, and the function that undoes the model's preparation for training."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from textfit.accel.training import prepare_for_training
    from textfit.training.trainer import StderrProgress, compute_metrics, trainer_class

    model.get_input_embeddings().weight.requires_grad_(not cfg.train.freeze_embeddings)
    device_type = args.device.type  # the Trainer's choice (train.device)
    restore = prepare_for_training(model, cpu_fast_path=cfg.train.cpu_fast_path, device_type=device_type)
    trainer = trainer_class(cfg.train.group_by_length)(
        model=model,
        args=args,
        train_dataset=tokenized.train,
        eval_dataset=tokenized.validation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple(device_type)),
        compute_metrics=partial(compute_metrics, labels=data.labels, task=data.task),
        compute_loss_func=data.compute_loss
        or loss_function(data.weights, cfg.train.loss, cfg.train.focal_gamma),
        callbacks=list(callbacks or []),
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # added instead when disable_tqdm; prints to stdout
    if progress:
        trainer.add_callback(StderrProgress)
    use_tensorboard_folder(trainer, partial_dir_of(cfg.resolved_output_dir()) / "tensorboard")
    if cfg.train.early_stopping_patience is not None:
        trainer.add_callback(EarlyStoppingCallback(cfg.train.early_stopping_patience))
    return trainer, restore


def _smaller_batches(cfg: RunConfig) -> RunConfig:
    """The settings with half the batch size and twice the gradient accumulation, said in a warning.

    Raises:
        ModelError: the batch size is 1 already.
    """
    batch, steps = cfg.train.batch_size, cfg.train.gradient_accumulation_steps
    if batch == 1:
        raise ModelError(
            f"out of GPU memory even with batch size 1 (gradient accumulation {steps})",
            hint="pass a lower --max-length, --precision bf16 or fp16, or a smaller --model",
        ) from None
    update = {"batch_size": batch // 2, "gradient_accumulation_steps": steps * 2}
    logger.warning(
        "out of GPU memory with batch size %d: training again from the start with batch size %d "
        "and gradient accumulation %d (effective batch %d per device, was %d)",
        batch,
        batch // 2,
        steps * 2,
        batch // 2 * steps * 2,
        batch * steps,
    )
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=update)})


def _pretrained(cfg: RunConfig, data: TrainingData) -> Any:
    """The pretrained model again, for a retry that starts from the start (seeded as the first try)."""
    from transformers import set_seed

    set_seed(cfg.train.seed)
    _, model = load_pretrained(cfg.model, data.labels.id2label, data.labels.label2id, data.task.problem_type)
    return model
