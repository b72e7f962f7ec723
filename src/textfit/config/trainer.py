"""The Trainer settings textfit hands on: train.device, and train.trainer_args (TrainingArguments as given).

The keys of trainer_args are checked against TrainingArguments where the Trainer is built
(`textfit.training.arguments`): that needs transformers and torch, which `textfit check` does not.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from textfit.devices import Device as DeviceName


def _keys_are_names(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not key.isidentifier():
            raise ValueError(
                f"{key!r} is not a TrainingArguments name (such as activation_checkpointing, optim, "
                "torch_compile, dataloader_num_workers)"
            )
    return value


Device = Annotated[
    DeviceName,
    Field(
        description="Device to train on: auto (a CUDA, Apple MPS or Intel XPU GPU where there is one, "
        "else the CPU), or cpu, cuda, mps, xpu (an error where it is not available)."
    ),
]

TrainerArgs = Annotated[
    dict[str, Any],
    AfterValidator(_keys_are_names),
    Field(
        description="More transformers TrainingArguments, passed to the Trainer as given, e.g. "
        "{activation_checkpointing: true, optim: adafactor, torch_compile: true, dataloader_num_workers: 4}; "
        "on the command line --set train.trainer_args.optim=adafactor. Checked before training: an "
        "unknown name, or one textfit sets from its own settings (learning_rate: train.learning_rate), "
        "is an error.",
    ),
]
