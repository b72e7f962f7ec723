"""What the terminal shows: progress bars on stderr, results on stdout, no chatter from the libraries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import TINY_TRAIN_SETTINGS
from textfit.cli.main import app

runner = CliRunner()

# Signs of a library talking: warnings, load reports, deprecations, tracebacks.
LIBRARY_LINES = re.compile(
    r"[a-z]Warning|warn\(|Some weights|newly initialized|MISSING|UNEXPECTED|torch_dtype|tokenizers|"
    r"huggingface|Traceback|deprecat|\.py:\d+|\{'loss'|\{'eval_",
    re.IGNORECASE,
)


def _config(tiny_model_dir: Path, folder: Path, **train: Any) -> Path:
    """A YAML config with the tiny model and fast settings."""
    settings = {k: v for k, v in TINY_TRAIN_SETTINGS.items() if k != "max_length"}
    values = {
        "model": {"name": str(tiny_model_dir), "max_length": TINY_TRAIN_SETTINGS["max_length"]},
        "train": {**settings, **train},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def _stderr_lines(stderr: str) -> list[str]:
    """Stderr without cursor moves, split into lines and progress bar redraws (at carriage returns)."""
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stderr)
    return [part.strip() for part in re.split(r"[\r\n]", plain) if part.strip()]


@pytest.fixture(scope="module")
def tiny_encoder_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT without its classifier head, as pretrained encoders come: loading it for
    classification makes transformers report the newly initialised head."""
    from transformers import AutoTokenizer, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    BertModel.from_pretrained(tiny_model_dir).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.mark.subprocess
def test_train_in_a_fresh_process_shows_no_library_messages(
    tiny_encoder_dir: Path, binary_csv: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    config = _config(tiny_encoder_dir, tmp_path, epochs=2, logging_strategy="steps", logging_steps=2)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRANSFORMERS_", "TOKENIZERS_", "PYTHONWARNINGS", "HF_HUB_VERBOSITY"))
    }
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TEXTFIT_CACHE=str(tmp_path / "cache"))
    run_dir = tmp_path / "run"

    result = subprocess.run(
        [sys.executable, "-m", "textfit", "train", str(binary_csv), "--config", str(config),
         "--test-file", str(binary_test_csv), "-o", str(run_dir)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = _stderr_lines(result.stderr)
    assert [line for line in lines if LIBRARY_LINES.search(line)] == []
    assert any(line.startswith("columns: text 'text', label 'label'") for line in lines)
    assert any(line.startswith("saved the run to ") for line in lines)
    assert any(re.match(r"epoch 2, step \d+: loss [\d.]+, accuracy", line) for line in lines)
    assert result.stdout.splitlines()[0] == f"run saved to {run_dir}"
    assert result.stdout.splitlines()[-1].startswith("next: textfit predict ")
    assert "\r" not in result.stdout
    assert "it/s" not in result.stdout
    assert "s/it" not in result.stdout


def test_train_progress_goes_to_stderr_with_loss_learning_rate_and_rate(
    tiny_model_dir: Path, binary_csv: Path, tmp_path: Path
) -> None:
    config = _config(tiny_model_dir, tmp_path, epochs=1, logging_strategy="steps", logging_steps=1)

    result = runner.invoke(
        app, ["train", str(binary_csv), "--config", str(config), "-o", str(tmp_path / "run")]
    )

    assert result.exit_code == 0, result.stderr
    assert "tokenizing" in result.stderr
    assert re.search(r"loss=[\d.]+, lr=[\d.e-]+, samples/s=[\d.]+", result.stderr)
    assert re.search(r"\d+/11 \[", result.stderr), "steps done / total, with elapsed and ETA"
    assert "epoch 1, step 11: loss" in result.stderr
    assert "tokenizing" not in result.stdout
    assert "loss" not in result.stdout
    assert "\r" not in result.stdout


def test_quiet_hides_progress_and_info_and_verbose_adds_debug_lines(
    tiny_model_dir: Path, binary_csv: Path, tmp_path: Path
) -> None:
    config = _config(tiny_model_dir, tmp_path, epochs=1)

    def run(name: str, *flags: str) -> Any:
        args = ["train", str(binary_csv), "--config", str(config), "-o", str(tmp_path / name), *flags]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"run saved to {tmp_path / name}\n")
        return result

    quiet, default, verbose = run("q", "-q"), run("d"), run("v", "-v")

    # only warnings: here the one for few labelled examples (24 rows per class)
    assert quiet.stderr.startswith("warning: few labelled examples: 'negative' has 21 training rows")
    assert quiet.stderr.count("\n") == 1
    assert "columns: text 'text'" in default.stderr
    assert "tokenizing" in default.stderr
    assert "settings: {" not in default.stderr
    assert "columns: text 'text'" in verbose.stderr
    assert '"epochs": 1.0' in verbose.stderr.split("settings: ", 1)[1]


def test_evaluate_and_predict_end_with_the_next_command(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    evaluated = runner.invoke(
        app, ["evaluate", str(tiny_run_dir), str(binary_test_csv), "-o", str(tmp_path / "m.json")]
    )
    predicted = runner.invoke(
        app, ["predict", str(tiny_run_dir), str(binary_test_csv), "-o", str(tmp_path / "p.csv")]
    )

    assert evaluated.exit_code == 0, evaluated.stderr
    assert (
        evaluated.stdout.splitlines()[-1]
        == f"next: textfit predict {tiny_run_dir} new_texts.csv -o predictions.csv"
    )
    assert predicted.exit_code == 0, predicted.stderr
    assert predicted.stdout == ""
    assert _stderr_lines(predicted.stderr)[-1] == f"next: textfit evaluate {tiny_run_dir} labelled.csv"
