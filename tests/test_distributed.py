"""Data-parallel training in 2 processes (torchrun, gloo on loopback): one run folder, whole metrics."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import textfit
from conftest import read_csv
from test_end_to_end import SAMPLES, stratified_sample


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _torchrun(*args: str, cwd: Path, threads: int = 1) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node 2 -m textfit ARGS` with the gloo backend on loopback."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "PYTHONPATH": str(Path(textfit.__file__).parents[1]),
    }
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"),
        *("--master_addr", "127.0.0.1", "--master_port", str(_free_port())),
        *("-m", "textfit", *args, "--set", "train.ddp_backend=gloo"),
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _flags(settings: dict[str, Any]) -> list[str]:
    flags = ["--model", str(settings["model"]), "--max-length", str(settings["max_length"])]
    for key, value in settings.items():
        if key not in ("model", "max_length"):
            flags += ["--set", f"train.{key}={json.dumps(value)}"]
    return flags


@pytest.mark.subprocess
def test_two_processes_write_one_whole_run_as_good_as_one_process(
    tiny_settings: dict[str, Any], binary_csv: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    settings = {**tiny_settings, "batch_size": 2, "epochs": 10}  # 2 x 2 per step, as 1 x 4 alone
    done = _torchrun(
        "train",
        str(binary_csv),
        "--test-file",
        str(binary_test_csv),
        "-o",
        "run",
        *_flags(settings),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("run saved to run") == 1, "only the main process prints the results"
    assert done.stderr.count("saved the run to run") == 1, "only the main process logs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no .partial or .old left"
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "figures",
        "log_history.json",
        "metrics.json",
        "model",
        "predictions-test.parquet",
        "predictions-validation.parquet",
        "report.html",
        "run_config.yaml",
        "textfit-run.json",
    ]
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train"]["processes"] == 2
    assert metrics["validation"]["samples"] == 5, "over every validation row, not one process's share"
    assert metrics["test"]["samples"] == 16
    history = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
    assert history[-1]["step"] == 10 * 11, "43 rows in 22 batches of 2, split between 2 processes: 11 steps"
    evaluations = [entry for entry in history if "eval_loss" in entry]
    assert [entry["eval_samples"] for entry in evaluations] == [5] * 10, "every validation row, once"
    assert evaluations[-1]["eval_accuracy"] == metrics["validation"]["accuracy"]

    single = textfit.train(
        train_file=binary_csv,
        test_file=binary_test_csv,
        output_dir=tmp_path / "single",
        progress=False,
        **{**settings, "batch_size": 4},
    )
    assert single.metrics["test"]["f1_macro"] == 1.0
    assert metrics["test"]["f1_macro"] == 1.0, metrics["test"]
    predictions = textfit.Classifier.load(run_dir).predict(["good great lovely", "awful sad bad"])
    assert [p.label for p in predictions] == ["positive", "negative"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_processes_fine_tune_minilm_on_sms_spam(tmp_path: Path) -> None:
    train_file = stratified_sample(SAMPLES / "train.csv", 300, tmp_path / "train.csv")
    test_file = stratified_sample(SAMPLES / "test.csv", 200, tmp_path / "test.csv")
    done = _torchrun(
        "train",
        str(train_file),
        "--test-file",
        str(test_file),
        "-o",
        "run",
        "-q",
        # 2 x 4 rows per step; in 1 epoch (37 steps) seeds 42 / 1 / 2 / 3 gave macro-F1 0.47-0.92,
        # in 2 epochs 0.94-0.97
        *("--epochs", "2", "--batch-size", "4", "--max-length", "64"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train"]["processes"] == 2
    assert metrics["test"]["samples"] == len(read_csv(test_file)) == 200
    assert metrics["test"]["f1_macro"] >= 0.8, metrics["test"]  # always "ham" gives 0.47


def test_deepspeed_fsdp_and_backend_reach_the_training_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plumbing only: DeepSpeed and FSDP need GPUs (FSDP's arguments fail without a process group)."""
    import transformers

    from textfit.config.loading import with_settings
    from textfit.training.arguments import training_arguments

    given: dict[str, Any] = {}
    monkeypatch.setattr(transformers, "TrainingArguments", lambda **kwargs: given.update(kwargs))
    settings = {"deepspeed": "ds_zero2.json", "fsdp": "full_shard auto_wrap", "ddp_backend": "nccl"}
    training_arguments(with_settings(None, settings), Path("out"), "fp32", progress=False)
    assert (given["deepspeed"], given["ddp_backend"]) == ("ds_zero2.json", "nccl")
    assert given["fsdp"] in (True, "full_shard auto_wrap")  # True (with fsdp_config) from transformers 5.10
    training_arguments(with_settings(None, {}), Path("out"), "fp32", progress=False)
    assert (given["deepspeed"], given["fsdp"], given["ddp_backend"]) == (None, None, None)


@pytest.mark.parametrize("options", ["full_shard auto_wrap", "shard_grad_op offload"])
def test_fsdp_options_give_the_plugin_of_the_string_without_its_deprecation(options: str) -> None:
    """transformers 5.10 deprecates fsdp as a string: textfit passes fsdp=True and an fsdp_config."""
    from transformers import TrainingArguments
    from transformers.utils import logging as hf_logging

    from textfit.training.arguments import fsdp_arguments

    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    hf_logger, level = logging.getLogger("transformers"), hf_logging.get_verbosity()
    hf_logger.addHandler(handler)
    hf_logging.set_verbosity_warning()
    try:
        ours = TrainingArguments("out", use_cpu=True, **fsdp_arguments(options))
        said_for_ours = list(said)
        legacy = TrainingArguments("out", use_cpu=True, fsdp=options)
    finally:
        hf_logger.removeHandler(handler)
        hf_logging.set_verbosity(level)
    assert ours.fsdp_plugin_args == legacy.fsdp_plugin_args
    assert not [message for message in said_for_ours if "deprecated" in message], said_for_ours


def test_an_fsdp1_option_is_a_config_error_with_transformers_5_10_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from textfit.errors import ConfigError
    from textfit.training.arguments import fsdp_arguments

    monkeypatch.setattr(transformers, "__version__", "5.10.1")
    with pytest.raises(ConfigError, match="'hybrid_shard', which is not an option of FSDP2"):
        fsdp_arguments("hybrid_shard auto_wrap")
    monkeypatch.setattr(transformers, "__version__", "5.9.0")
    assert fsdp_arguments("hybrid_shard auto_wrap") == {"fsdp": "hybrid_shard auto_wrap"}


def test_cli_passes_deepspeed_and_fsdp_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from textfit.cli.main import app

    seen: list[Any] = []

    def fake_train(cfg: Any, **kwargs: Any) -> Any:
        seen.append(cfg)
        raise textfit.ConfigError("stop here")

    monkeypatch.setattr(sys.modules["textfit.push"], "train_and_push", fake_train)
    logger = logging.getLogger("textfit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        CliRunner().invoke(
            app, ["train", "data.csv", "--deepspeed", "ds.json", "--fsdp", "full_shard auto_wrap"]
        )
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert (seen[0].train.deepspeed, seen[0].train.fsdp) == ("ds.json", "full_shard auto_wrap")
