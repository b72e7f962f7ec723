"""--report-to: tracker names checked up front, and tiny runs logged offline to mlflow and TensorBoard."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textfit import train
from textfit.cli.main import app
from textfit.config.loading import load_config
from textfit.errors import ConfigError

runner = CliRunner()


def assert_same_series(logged: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """The same steps, and values equal up to float32 rounding."""
    assert [step for step, _ in logged] == [step for step, _ in expected]
    assert [value for _, value in logged] == pytest.approx([value for _, value in expected], rel=1e-6)


def _log_history(run_dir: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) of one key of the run's log_history.json: what the Trainer logged."""
    history = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
    return [(entry["step"], entry[key]) for entry in history if key in entry]


# ---------------------------------------------------------------- names and packages


@pytest.mark.parametrize(
    ("report_to", "message"),
    [
        (["tensorbord"], "train.report_to: unknown tracker 'tensorbord' (did you mean 'tensorboard'?)"),
        ("mlfow", "train.report_to: unknown tracker 'mlfow' (did you mean 'mlflow'?)"),
        (["none", "mlflow"], "train.report_to: 'none' cannot be given with other trackers"),
    ],
)
def test_unknown_tracker_is_a_config_error(report_to: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, {"train.report_to": report_to})


def test_tracker_names_are_normalised() -> None:
    cfg = load_config(None, {"train.report_to": "TensorBoard, mlflow,mlflow"})

    assert cfg.train.report_to == ["tensorboard", "mlflow"]


def test_report_to_typo_on_the_command_line(binary_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", str(binary_csv), "-o", str(tmp_path / "run"), "--report-to", "mlfow"]
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: invalid settings:" in result.stderr
    assert "train.report_to: unknown tracker 'mlfow' (did you mean 'mlflow'?)" in result.stderr


@pytest.mark.parametrize(
    ("tracker", "package", "hint"),
    [
        ("mlflow", "mlflow", 'pip install "textfit[tracking]" (or mlflow-skinny)'),
        ("tensorboard", "tensorboard", 'pip install "textfit[tracking]" (or tensorboard)'),
        ("wandb", "wandb", "pip install wandb"),
    ],
)
def test_missing_tracker_package_fails_before_reading_data(
    tracker: str, package: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    hidden = {"mlflow", "tensorboard", "tensorboardX", "wandb"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name in hidden else find_spec(name, *args)
    )

    with pytest.raises(
        ConfigError, match=re.escape(f"--report-to {tracker} needs the package {package}")
    ) as err:
        train(train_file=tmp_path / "not-read.csv", output_dir=tmp_path / "run", report_to=[tracker])

    assert err.value.hint == hint
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- mlflow


@pytest.fixture
def offline_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A local mlflow file store in tmp_path, no telemetry; returns its tracking URI."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "textfit-tests")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    return uri


def test_mlflow_logs_params_and_metrics_to_a_local_file_store(
    offline_mlflow: str, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    settings = {**tiny_settings, "epochs": 2, "logging_strategy": "steps", "logging_steps": 3}
    result = train(
        train_file=binary_csv,
        output_dir=tmp_path / "tiny-run",
        report_to="mlflow",
        progress=False,
        **settings,
    )

    client = MlflowClient(tracking_uri=offline_mlflow)
    experiment = client.get_experiment_by_name("textfit-tests")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runName"] == "tiny-run"
    assert float(run.data.params["learning_rate"]) == settings["learning_rate"]
    assert float(run.data.params["num_train_epochs"]) == 2
    assert int(run.data.params["per_device_train_batch_size"]) == settings["batch_size"]
    assert run.data.params["id2label"] == str({0: "negative", 1: "positive"})

    def history(key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))

    losses = history("loss")
    assert len(losses) >= 4  # 2 epochs of 11 steps, one log every 3 steps
    assert_same_series(losses, _log_history(result.run_dir, "loss"))
    f1 = history("eval_f1_macro")
    assert [step for step, _ in f1] == [11, 22]
    assert_same_series(f1, _log_history(result.run_dir, "eval_f1_macro"))
    assert f1[-1][1] >= 0.9, "the tiny model learns the toy task"
    assert history("eval_loss")[-1][1] < history("eval_loss")[0][1] + 0.1


def test_mlflow_without_a_tracking_uri_writes_mlruns_in_the_current_folder(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "textfit-default-store")  # not one of another store
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    try:
        train(train_file=binary_csv, output_dir="run", report_to="mlflow", progress=False, **tiny_settings)
        assert mlflow.get_tracking_uri() == (tmp_path / "mlruns").as_uri()
    finally:
        mlflow.set_tracking_uri("")  # back to unset, for the other tests
    assert list((tmp_path / "mlruns").glob("*/*/metrics/eval_f1_macro"))


# ---------------------------------------------------------------- TensorBoard


def _event_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TensorBoard event files under folder: {tag: [(step, value)]}.

    An event file is a sequence of records: length (8 bytes), its CRC (4), an Event protobuf, its CRC (4).
    """
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, position = path.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position : position + 8])
            event = Event.FromString(data[position + 12 : position + 12 + length])
            position += 12 + length + 4
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)


def test_tensorboard_events_land_in_the_run_folder(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing may land in ./runs of the current folder
    settings = {**tiny_settings, "epochs": 2, "logging_strategy": "steps", "logging_steps": 2}

    result = train(
        train_file=binary_csv,
        output_dir=tmp_path / "run",
        report_to="tensorboard",
        progress=False,
        **settings,
    )

    assert result.run_dir == tmp_path / "run"
    assert [path.name for path in tmp_path.iterdir()] == ["run"]
    events = list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    scalars = _event_scalars(result.run_dir / "tensorboard")
    assert_same_series(scalars["train/loss"], _log_history(result.run_dir, "loss"))
    assert len(scalars["train/loss"]) >= 5
    assert_same_series(scalars["eval/f1_macro"], _log_history(result.run_dir, "eval_f1_macro"))
    assert [step for step, _ in scalars["eval/f1_macro"]] == [11, 22]
    assert "train/learning_rate" in scalars
