"""The Trainer's TrainingArguments, built in one place from a RunConfig, and the processes' roles."""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from pathlib import Path
from typing import Any

from textfit.config.choices import LOWER_IS_BETTER
from textfit.config.schema import RunConfig
from textfit.data.tasks import SINGLE_LABEL, Task
from textfit.devices import pick_device
from textfit.errors import ConfigError

# train.fsdp's options ('full_shard auto_wrap') as fsdp_config entries of FSDP2, for transformers 5.10 and
# later, which take fsdp=True with the settings in fsdp_config and deprecate the string.
FSDP_CONFIG: dict[str, dict[str, Any]] = {
    "full_shard": {"reshard_after_forward": True},
    "shard_grad_op": {"reshard_after_forward": False},
    "offload": {"cpu_offload": True},
    "auto_wrap": {},  # FSDP2 wraps each transformer layer by default
}

# Where launchers put the process's rank: torchrun, accelerate launch and DeepSpeed set RANK; MPI its own.
RANK_VARIABLES = ("RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMI_RANK")


# The TrainingArguments textfit sets from a setting of its own (train.trainer_args may not name
# them: textfit's settings win), each with the setting to use instead. tests/test_trainer_args.py
# checks this against what own_arguments builds.
OWN_ARGUMENTS = {
    "output_dir": "output_dir (--output-dir; checkpoints go to RUN.partial/checkpoints)",
    "num_train_epochs": "train.epochs",
    "learning_rate": "train.learning_rate",
    "lr_scheduler_type": "train.lr_scheduler",
    "warmup_steps": "train.warmup_ratio",
    "weight_decay": "train.weight_decay",
    "per_device_train_batch_size": "train.batch_size",
    "per_device_eval_batch_size": "train.eval_batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps",
    "max_grad_norm": "train.max_grad_norm",
    "eval_strategy": "train.eval_strategy",
    "eval_steps": "train.eval_steps",
    "save_strategy": "train.save_strategy",
    "save_steps": "train.save_steps",
    "save_total_limit": "train.keep_checkpoints (textfit keeps one checkpoint)",
    "logging_strategy": "train.logging_strategy",
    "logging_steps": "train.logging_steps",
    "bf16": "train.precision",
    "fp16": "train.precision",
    "use_cpu": "train.device",
    "load_best_model_at_end": "train.load_best_model_at_end",
    "metric_for_best_model": "train.metric_for_best_model",
    "greater_is_better": "train.metric_for_best_model (textfit knows which way each metric is better)",
    "train_sampling_strategy": "train.group_by_length",
    "report_to": "train.report_to",
    "run_name": "output_dir (the run's name is its folder's)",
    "log_level": "train.log_level",
    "seed": "train.seed",
    "disable_tqdm": "--quiet",
    "ddp_backend": "train.ddp_backend",
    "deepspeed": "train.deepspeed",
    "fsdp": "train.fsdp",
}
# The TrainingArguments textfit picks that train.trainer_args may change.
TRAINER_DEFAULTS: dict[str, Any] = {"dataloader_num_workers": 0}
TRAINER_ARGS_HINT = (
    "train.trainer_args takes the names of transformers.TrainingArguments "
    "(https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments)"
)


def training_arguments(
    cfg: RunConfig, output_dir: Path, precision: str, progress: bool, task: Task = SINGLE_LABEL
) -> Any:
    """The one place the Trainer's TrainingArguments are built from a RunConfig.

    textfit's own settings (own_arguments) over train.trainer_args over TRAINER_DEFAULTS; a name in
    trainer_args that textfit sets is an error rather than silently lost.

    Raises:
        ConfigError: train.metric_for_best_model is not a metric of the task; train.device is not
            available; train.trainer_args names an unknown or textfit's own argument, or a value
            TrainingArguments refuses.
    """
    from transformers import TrainingArguments

    own = own_arguments(cfg, output_dir, precision, progress, task)
    given = trainer_passthrough(cfg.train.trainer_args, own)
    try:
        return TrainingArguments(**(TRAINER_DEFAULTS | given | own))
    except (TypeError, ValueError) as err:
        if not given:
            raise
        TrainingArguments(**(TRAINER_DEFAULTS | own))  # raises itself where trainer_args are not the cause
        raise ConfigError(
            f"train.trainer_args ({', '.join(sorted(given))}): TrainingArguments refused them: {err}",
            hint=TRAINER_ARGS_HINT,
        ) from None


def own_arguments(
    cfg: RunConfig, output_dir: Path, precision: str, progress: bool, task: Task = SINGLE_LABEL
) -> dict[str, Any]:
    """The TrainingArguments that textfit sets from its settings (OWN_ARGUMENTS names their settings).

    Raises:
        ConfigError: train.metric_for_best_model is not a metric of the task; train.device is not
            available.
    """
    train = cfg.train
    best_metric = task.best_model_metric(train.metric_for_best_model)
    return dict(
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
        # The Trainer picks the device (cuda, mps, xpu) unless told to use the CPU.
        use_cpu=pick_device(train.device) == "cpu",
        load_best_model_at_end=train.load_best_model_at_end and train.eval_strategy != "no",
        metric_for_best_model=best_metric,
        greater_is_better=best_metric not in LOWER_IS_BETTER,
        train_sampling_strategy="random",  # group_by_length: see trainer.length_bucket_order
        report_to=train.report_to,
        run_name=cfg.resolved_output_dir().name,  # the run's name in mlflow and the like
        log_level=train.log_level,
        seed=train.seed,
        disable_tqdm=not progress,
        ddp_backend=train.ddp_backend,
        deepspeed=train.deepspeed,
        **fsdp_arguments(train.fsdp),
    )


def trainer_passthrough(trainer_args: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """train.trainer_args checked against TrainingArguments' fields and types, and against `own`.

    Returns:
        The arguments, each value as TrainingArguments' type annotation reads it ("4" -> 4).

    Raises:
        ConfigError: an unknown name (with the closest), one that textfit sets from its own
            settings (with the setting to use), or a value of the wrong type; every problem at once.
    """
    if not trainer_args:
        return {}
    from pydantic import TypeAdapter, ValidationError
    from transformers import TrainingArguments

    fields = {field.name for field in dataclasses.fields(TrainingArguments) if field.init}
    types = typing.get_type_hints(TrainingArguments)
    problems, checked = [], {}
    for name, value in trainer_args.items():
        if name in own:
            problems.append(f"{name}: textfit sets it; use {OWN_ARGUMENTS.get(name, 'its own setting')}")
        elif name not in fields:
            close = difflib.get_close_matches(name, sorted(fields), n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name}: not an argument of TrainingArguments{suggestion}")
        else:
            try:
                checked[name] = TypeAdapter(types[name]).validate_python(value)
            except ValidationError as err:
                problems.append(f"{name}: {value!r}: {err.errors()[0]['msg']}")
    if problems:
        raise ConfigError(
            "invalid train.trainer_args:\n  " + "\n  ".join(f"train.trainer_args.{p}" for p in problems),
            hint=TRAINER_ARGS_HINT + "; textfit's own settings win over them: set those instead",
        )
    return checked


def fsdp_arguments(options: str | None) -> dict[str, Any]:
    """TrainingArguments' fsdp (and fsdp_config) from train.fsdp's options, e.g. 'full_shard auto_wrap'.

    transformers 5.10 and later take fsdp=True with the options in fsdp_config (a string is
    deprecated there); earlier releases take the string as it is.

    Raises:
        ConfigError: an option FSDP2 has not (FSDP1's hybrid_shard, no_shard) or a misspelt one.
    """
    import transformers

    if not options:
        return {"fsdp": None}
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    if (major, minor) < (5, 10):
        return {"fsdp": options}
    fsdp_config: dict[str, Any] = {}
    for option in options.split():
        if option not in FSDP_CONFIG:
            raise ConfigError(
                f"train.fsdp has {option!r}, which is not an option of FSDP2",
                hint=f"use {', '.join(FSDP_CONFIG)} (hybrid_shard and no_shard are FSDP1's, which "
                "transformers deprecates)",
            )
        fsdp_config.update(FSDP_CONFIG[option])
    return {"fsdp": True, "fsdp_config": fsdp_config}


def with_batch_size(args: Any, batch_size: int, accumulation: int) -> Any:
    """The same TrainingArguments with another batch size and gradient accumulation.

    For a retry after running out of memory; their own checks run again, so that a DeepSpeed
    config's "auto" sizes follow.
    """
    return dataclasses.replace(
        args, per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation
    )


def is_main_process() -> bool:
    """Whether this process writes the run folder: the first of a distributed run, else the only one.

    Read from the launcher's environment, so that it is known before the data is read: the
    TrainingArguments, which start the process group, need the task, and so the data.
    TrainingArguments.should_save says the same (textfit never saves on each node).
    """
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").strip():
            return int(os.environ[name]) == 0
    return True


def barrier(args: Any) -> None:
    """Wait for every process of a distributed run (nothing to wait for in a single process)."""
    if args.world_size > 1:
        args.distributed_state.wait_for_everyone()
