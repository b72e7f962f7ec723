"""A damaged or unfinished run folder: a ModelError naming what is missing, never a half-loaded model."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import textfit
from textfit import Classifier, ModelError
from textfit.cli.main import app


@pytest.fixture
def run_copy(tiny_run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared tiny run, to damage."""
    return Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_id2label(path: Path) -> None:
    config = json.loads(path.read_text(encoding="utf-8"))
    del config["id2label"]
    path.write_text(json.dumps(config), encoding="utf-8")


def _remove_tokenizer(model: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (model / name).unlink(missing_ok=True)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "no weights": (lambda run: (run / "model" / "model.safetensors").unlink(), "has no safetensors weights"),
    "truncated weights": (
        lambda run: _truncate(run / "model" / "model.safetensors"),
        "model.safetensors is damaged: truncated",
    ),
    "weights shorter than a header": (
        lambda run: (run / "model" / "model.safetensors").write_bytes(b"\x01\x02"),
        "model.safetensors is damaged: 2 bytes, shorter than a header",
    ),
    "no config": (
        lambda run: (run / "model" / "config.json").unlink(),
        "is not a textfit run: it has no model/config.json",
    ),
    "config not JSON": (
        lambda run: (run / "model" / "config.json").write_text("{", encoding="utf-8"),
        "config.json cannot be read",
    ),
    "no id2label": (
        lambda run: _drop_id2label(run / "model" / "config.json"),
        "config.json has no id2label: the label names of the model are missing",
    ),
    "no tokenizer": (
        lambda run: _remove_tokenizer(run / "model"),
        "has no tokenizer files (tokenizer.json, or a slow tokenizer's vocab.txt or sentencepiece model)",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_run_names_what_is_missing(damage: str, run_copy: Path) -> None:
    change, message = DAMAGES[damage]
    change(run_copy)
    with pytest.raises(ModelError, match=re.escape(message)) as err:
        Classifier.load(run_copy)
    if damage != "no config":
        assert "train it again" in str(err.value.hint)


def test_evaluate_and_predict_refuse_a_truncated_model(run_copy: Path, binary_test_csv: Path) -> None:
    _truncate(run_copy / "model" / "model.safetensors")
    with pytest.raises(ModelError, match="truncated"):
        textfit.evaluate(run_copy, binary_test_csv)
    with pytest.raises(ModelError, match="truncated"):
        textfit.predict_file(run_copy, str(binary_test_csv), str(run_copy / "out.csv"))
    assert not (run_copy / "out.csv").exists()
    result = CliRunner().invoke(app, ["predict", str(run_copy), str(binary_test_csv)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "model.safetensors is damaged: truncated" in result.stderr
    assert "hint: the run may have been interrupted while saving" in result.stderr


def _complete_checkpoint(partial: Path) -> None:
    """What the Trainer writes into a checkpoint folder, enough for resume.last_checkpoint to take it."""
    checkpoint = partial / "checkpoints" / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"x")
    (checkpoint / "optimizer.pt").write_bytes(b"x")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 3}), encoding="utf-8")


def test_an_unfinished_run_says_to_resume_it(run_copy: Path, tmp_path: Path) -> None:
    partial = run_copy.rename(tmp_path / "run.partial")
    _complete_checkpoint(partial)
    with pytest.raises(ModelError, match=re.escape(f"{partial} is an unfinished run")) as err:
        Classifier.load(partial)
    assert f"textfit train --resume {tmp_path / 'run'}" in str(err.value.hint)
    with pytest.raises(ModelError, match=re.escape(f"run folder {tmp_path / 'run'} does not exist")) as err:
        Classifier.load(tmp_path / "run")
    assert f"{partial} holds a run that did not finish" in str(err.value.hint)


def test_an_unfinished_run_without_a_checkpoint_says_to_train_again(run_copy: Path, tmp_path: Path) -> None:
    # Issue 18, item 6: --resume fails on a run with no complete checkpoint, so it is not suggested.
    partial = run_copy.rename(tmp_path / "run.partial")
    (partial / "checkpoints" / "checkpoint-3").mkdir(parents=True)  # begun, never completed
    expected = (
        "it stopped before its first complete checkpoint, so there is nothing to resume: "
        f"train again with --output-dir {tmp_path / 'run'}"
    )
    with pytest.raises(ModelError, match=re.escape(f"{partial} is an unfinished run")) as err:
        Classifier.load(partial)
    assert err.value.hint == expected
    with pytest.raises(ModelError, match=re.escape(f"run folder {tmp_path / 'run'} does not exist")) as err:
        Classifier.load(tmp_path / "run")
    assert err.value.hint == f"{partial} holds a run that did not finish: {expected}"
    assert "--resume" not in str(err.value)

    result = CliRunner().invoke(app, ["predict", str(tmp_path / "run"), "-"], input="good\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"hint: {partial} holds a run that did not finish: it stopped before" in result.stderr
    assert "--resume" not in result.stderr


def test_a_run_stopped_while_replacing_another_points_at_the_old_one(run_copy: Path, tmp_path: Path) -> None:
    old = run_copy.rename(tmp_path / "run.old")
    with pytest.raises(ModelError, match=re.escape(f"run folder {tmp_path / 'run'} does not exist")) as err:
        Classifier.load(tmp_path / "run")
    assert f"{old} holds the run it was replacing when it stopped" in str(err.value.hint)


def test_the_whole_run_still_loads(run_copy: Path) -> None:
    assert Classifier.load(run_copy).labels == ["negative", "positive"]
