"""Out of GPU memory: train again with half the batch and twice the accumulation, and say so."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import TrainerCallback

import textfit
from textfit import ModelError


class OutOfMemoryAt(TrainerCallback):  # type: ignore[misc]
    """Raise CUDA's out-of-memory error at the first step of a run whose batch is too big."""

    def __init__(self, batch_sizes: set[int]) -> None:
        self.batch_sizes = batch_sizes
        self.seen: list[tuple[int, int]] = []  # (batch size, gradient accumulation) of each attempt

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seen.append((args.per_device_train_batch_size, args.gradient_accumulation_steps))

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.per_device_train_batch_size in self.batch_sizes:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_halves_the_batch_and_keeps_the_effective_batch(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault = OutOfMemoryAt({8})
    with caplog.at_level(logging.WARNING, logger="textfit"):
        result = textfit.train(
            train_file=binary_csv,
            output_dir=tmp_path / "run",
            progress=False,
            callbacks=[fault],
            **{**tiny_settings, "batch_size": 8, "epochs": 10},
        )
    assert fault.seen == [(8, 1), (4, 2)]
    assert (
        "out of GPU memory with batch size 8: training again from the start with batch size 4 and "
        "gradient accumulation 2 (effective batch 8 per device, was 8)"
    ) in caplog.text
    saved = yaml.safe_load((result.run_dir / "run_config.yaml").read_text(encoding="utf-8"))
    assert (saved["train"]["batch_size"], saved["train"]["gradient_accumulation_steps"]) == (4, 2)
    assert result.metrics["validation"]["f1_macro"] == 1.0, "the retry trained a working model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_out_of_memory_at_batch_size_one_is_a_model_error(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    fault = OutOfMemoryAt({1, 2})
    message = "out of GPU memory even with batch size 1 (gradient accumulation 2)"
    with pytest.raises(ModelError, match=re.escape(message)) as err:
        textfit.train(
            train_file=binary_csv,
            output_dir=tmp_path / "run",
            progress=False,
            callbacks=[fault],
            **{**tiny_settings, "batch_size": 2},
        )
    assert "--max-length" in str(err.value.hint)
    assert fault.seen == [(2, 1), (1, 2)]
