"""Resume a killed run: same steps, same data order and learning rates as a run never stopped."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

import textfit
from textfit import Classifier, ConfigError, DataError, ModelError
from textfit.cli.main import app
from textfit.config.loading import save_config
from textfit.runs.resume import last_checkpoint

# Long enough (30 epochs of 11 steps) to be killed mid-run, a checkpoint every 3 steps, a loss per step.
RESUMABLE = {
    "epochs": 30,
    "save_strategy": "steps",
    "save_steps": 3,
    "logging_strategy": "steps",
    "logging_steps": 1,
    "lr_scheduler": "linear",
    "group_by_length": True,  # textfit's own sampler: its order must follow the epoch, not its calls
}
STEPS_PER_EPOCH = 11  # 43 training rows (48 less a validation share of 0.1) in batches of 4


def _cli_flags(settings: dict[str, Any]) -> list[str]:
    """`--set train.KEY=VALUE` for each setting, `--model` / `--max-length` for the model ones."""
    flags = []
    for key, value in settings.items():
        if key == "model":
            flags += ["--model", str(value)]
        elif key == "max_length":
            flags += ["--max-length", str(value)]
        else:
            flags += ["--set", f"train.{key}={json.dumps(value)}"]
    return flags


def _textfit(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(textfit.__file__).parents[1])}
    return subprocess.Popen(
        [sys.executable, "-m", "textfit", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _complete_checkpoint_steps(checkpoints: Path) -> list[int]:
    steps = []
    for state in checkpoints.glob("checkpoint-*/trainer_state.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):  # being written
            steps.append(json.loads(state.read_text(encoding="utf-8"))["global_step"])
    return steps


def _losses(run_dir: Path) -> dict[int, tuple[float, float]]:
    history = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
    return {entry["step"]: (entry["loss"], entry["learning_rate"]) for entry in history if "loss" in entry}


@pytest.mark.subprocess
def test_killed_run_resumes_to_the_same_steps_losses_and_learning_rates(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    settings = {**tiny_settings, **RESUMABLE}
    run_dir = tmp_path / "run"
    killed = _textfit("train", str(binary_csv), "-o", str(run_dir), "-q", *_cli_flags(settings), cwd=tmp_path)
    checkpoints = tmp_path / "run.partial" / "checkpoints"
    deadline = time.monotonic() + 120
    # Past the first epoch, so that a sampler replaying epoch 0's order would show in the losses.
    while not any(step > STEPS_PER_EPOCH for step in _complete_checkpoint_steps(checkpoints)):
        assert killed.poll() is None, (
            "the run ended before it could be killed: " + killed.stderr.read().decode()
        )  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not run_dir.exists(), "a killed run leaves no run folder"
    resumed_from = last_checkpoint(tmp_path / "run.partial")
    assert resumed_from is not None
    start = int(resumed_from.name.removeprefix("checkpoint-"))
    assert STEPS_PER_EPOCH < start < STEPS_PER_EPOCH * 30

    resumed = _textfit("train", "--resume", str(run_dir), cwd=tmp_path)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()
    assert f"run saved to {run_dir}" in stdout.decode()
    assert f"resuming {run_dir} from {resumed_from}" in stderr.decode()

    state = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
    assert state[-1]["step"] == STEPS_PER_EPOCH * 30, "every step of 30 epochs, no more"
    assert "checkpoints" not in {p.name for p in run_dir.iterdir()}, (
        "checkpoints removed after success (train.keep_checkpoints false)"
    )
    assert {"log_history.json", "metrics.json", "model", "run_config.yaml"} <= {
        p.name for p in run_dir.iterdir()
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]

    never_stopped = textfit.train(
        train_file=binary_csv, output_dir=tmp_path / "reference", progress=False, **settings
    )
    expected = _losses(never_stopped.run_dir)
    got = _losses(run_dir)
    assert sorted(got) == list(range(1, STEPS_PER_EPOCH * 30 + 1))
    after = [step for step in got if step > start]
    assert after, "steps after the checkpoint"
    for step in after:  # same batches, same dropout, same learning rate after the resume point
        assert got[step] == pytest.approx(expected[step], rel=1e-5), f"step {step}"


def test_resume_needs_an_interrupted_run(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=re.escape(f"no interrupted run to resume at {tmp_path / 'run'}")
    ) as err:
        textfit.train(resume=tmp_path / "run")
    assert f"{tmp_path / 'run.partial'} does not exist" in err.value.message
    assert "leave out --resume" in str(err.value.hint)


def test_resume_of_a_finished_run_says_it_finished(tiny_run_dir: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("(the run in that folder finished)")):
        textfit.train(resume=tiny_run_dir)


def _partial_run(tmp_path: Path, binary_csv: Path, settings: dict[str, Any]) -> Path:
    """A RUN.partial folder with its run_config.yaml, as a run killed before its first checkpoint leaves."""
    partial = tmp_path / "run.partial"
    cfg = textfit.config.loading.with_settings(None, {**settings, "train_file": binary_csv.resolve()})
    save_config(cfg, partial / "run_config.yaml")
    return partial


def test_resume_without_a_checkpoint_says_to_train_again(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    partial = _partial_run(tmp_path, binary_csv, tiny_settings)
    for given in (tmp_path / "run", partial):  # RUN or RUN.partial
        with pytest.raises(ConfigError, match=re.escape("holds no complete checkpoint")) as err:
            textfit.train(resume=given)
        assert "train again without --resume" in str(err.value.hint)


def test_resume_refuses_other_settings_and_names_them(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    _partial_run(tmp_path, binary_csv, tiny_settings)
    message = f"cannot resume {tmp_path / 'run'} with other settings: train.epochs 7.0 (saved: 5.0)"
    with pytest.raises(ConfigError, match=re.escape(message)):
        textfit.train(resume=tmp_path / "run", epochs=7)
    with pytest.raises(ConfigError, match="holds no complete checkpoint"):  # the same value agrees
        textfit.train(resume=tmp_path / "run", epochs=5, train_file=binary_csv)


def test_incomplete_checkpoints_are_skipped(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    for step in (3, 6, 9):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x")
        (folder / "optimizer.pt").write_bytes(b"x")
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")
    (checkpoints / "checkpoint-9" / "trainer_state.json").write_text('{"global_st', encoding="utf-8")
    (checkpoints / "checkpoint-6" / "optimizer.pt").unlink()
    assert last_checkpoint(tmp_path) == checkpoints / "checkpoint-3"


def test_a_new_run_discards_an_interrupted_one_and_says_so(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    partial = _partial_run(tmp_path, binary_csv, tiny_settings)
    (partial / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="textfit"):
        result = textfit.train(
            train_file=binary_csv,
            output_dir=tmp_path / "run",
            progress=False,
            **{**tiny_settings, "epochs": 1},
        )
    assert f"discarded {partial}, left by an interrupted run" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert result.run_dir == tmp_path / "run"


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_partial_folder(
    tiny_settings: dict[str, Any], binary_csv: Path, make_csv: Any, tmp_path: Path
) -> None:
    # Issue 18, item 6: RUN.partial stayed, and predict then suggested a --resume that cannot work.
    one_class = make_csv("one_class.csv", [{"text": f"good day {i}", "label": "pos"} for i in range(20)])
    broken_model = tmp_path / "broken-model"
    broken_model.mkdir()
    (broken_model / "config.json").write_text("{", encoding="utf-8")
    run_dir = tmp_path / "run"

    with pytest.raises(DataError):
        textfit.train(train_file=one_class, output_dir=run_dir, progress=False, **tiny_settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-model", "one_class.csv"]
    with pytest.raises(ModelError):
        textfit.train(
            train_file=binary_csv,
            output_dir=run_dir,
            progress=False,
            **{**tiny_settings, "model": str(broken_model)},
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-model", "one_class.csv"]

    with pytest.raises(ModelError, match=re.escape(f"run folder {run_dir} does not exist")) as err:
        Classifier.load(run_dir)
    assert err.value.hint == "pass the --output-dir of a run"


class _PowerCut(TrainerCallback):
    """Stops training with an error at step 5, after the checkpoint of step 3."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 5:
            raise RuntimeError("power cut")


def test_a_run_that_fails_after_a_checkpoint_keeps_it_for_resume(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {**tiny_settings, "epochs": 1, "save_strategy": "steps", "save_steps": 3}
    run_dir, partial = tmp_path / "run", tmp_path / "run.partial"

    with caplog.at_level(logging.WARNING, logger="textfit"), pytest.raises(RuntimeError, match="power cut"):
        textfit.train(
            train_file=binary_csv, output_dir=run_dir, progress=False, callbacks=[_PowerCut()], **settings
        )

    assert last_checkpoint(partial) == partial / "checkpoints" / "checkpoint-3"
    assert f"the run stopped; {partial} is kept: `textfit train --resume {run_dir}` goes on" in caplog.text
    with pytest.raises(ModelError, match=re.escape(f"run folder {run_dir} does not exist")) as err:
        Classifier.load(run_dir)
    assert err.value.hint == (
        f"{partial} holds a run that did not finish: "
        f"resume it with `textfit train --resume {run_dir}`, or train again"
    )
    result = textfit.train(resume=run_dir, progress=False)
    assert result.run_dir == run_dir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_keep_checkpoints_keeps_the_last_one(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    result = textfit.train(
        train_file=binary_csv,
        output_dir=tmp_path / "run",
        progress=False,
        **{**tiny_settings, "epochs": 2, "save_strategy": "epoch", "keep_checkpoints": True},
    )
    assert [p.name for p in (result.run_dir / "checkpoints").iterdir()] == ["checkpoint-22"]


def test_cli_resume_without_a_run_is_an_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    logger = logging.getLogger("textfit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "run")])
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: no interrupted run to resume at {tmp_path / 'run'}" in result.stderr
    assert "hint: --resume takes the --output-dir of a run" in result.stderr
