"""textfit tune: trials on the tiny model, the trials table, the best run, resuming, pruning, errors."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from transformers import TrainerCallback
from typer.testing import CliRunner

from conftest import read_csv
from textfit import ConfigError, RunConfig, load_config
from textfit.cli.main import app
from textfit.config.loading import with_settings
from textfit.inference.classifier import Classifier
from textfit.training.tune import pruning_callback, tune

runner = CliRunner()
SPACE = {
    "tune.learning_rate": [1e-3, 1e-2],
    "tune.epochs": [1, 2],
    "tune.batch_size": [4, 8],
    "tune.warmup_ratio": [0.0, 0.1],
}


def tune_config(tiny_settings: dict[str, Any], train_file: Path, run_dir: Path, **tune: Any) -> RunConfig:
    settings = {**tiny_settings, "train_file": train_file, "output_dir": run_dir, **SPACE}
    cfg = with_settings(None, {**settings, **{f"tune.{k}": v for k, v in tune.items()}})
    # weight_decay: not searched (null), the train setting; a null cannot come through with_settings
    return cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"weight_decay": None})})


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, tiny_settings: dict[str, Any], binary_csv: Path) -> Any:
    run_dir = tmp_path_factory.mktemp("tune") / "study"
    return tune(tune_config(tiny_settings, binary_csv, run_dir, n_trials=3, pruning=False))


def test_three_trials_a_table_and_the_best_run(study: Any) -> None:
    run_dir = study.run_dir
    assert study.new_trials == 3
    rows = read_csv(run_dir / "trials.csv")
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert {row["state"] for row in rows} == {"complete"}
    assert list(rows[0]) == [
        "trial", "state", "value", "learning_rate", "epochs", "batch_size", "warmup_ratio",
        "weight_decay", "seconds", "run",
    ]  # fmt: skip
    assert {row["weight_decay"] for row in rows} == {""}, "a null range is not searched"
    assert all(1e-3 <= float(row["learning_rate"]) <= 1e-2 for row in rows)
    assert {row["batch_size"] for row in rows} <= {"4", "8"}
    values = [float(row["value"]) for row in rows]
    assert study.best_value == max(values)
    assert study.best_trial == values.index(max(values))
    assert study.direction == "maximize"
    assert study.metric == "f1_macro"

    best = study.best_dir
    assert best == run_dir / "best"
    best_trial = run_dir / "trials" / f"{study.best_trial:03d}"
    assert (best / "metrics.json").read_text() == (best_trial / "metrics.json").read_text()
    classifier = Classifier.load(best)
    assert classifier.predict(["good great lovely"])[0].label == "positive"
    for trial in range(3):
        folder = run_dir / "trials" / f"{trial:03d}"
        assert (folder / "metrics.json").is_file()
        assert not (folder / "model").exists(), "only best keeps a model"
    saved = load_config(run_dir / "tune_config.yaml")
    assert saved.tune.n_trials == 3


def test_a_second_call_continues_the_study_and_fails_a_killed_trial(
    study: Any, tiny_settings: dict[str, Any], binary_csv: Path
) -> None:
    run_dir = study.run_dir
    stored = optuna.load_study(study_name="textfit", storage=f"sqlite:///{run_dir / 'optuna.db'}")
    stored.ask()  # a trial left running, as by a tune killed mid-trial

    again = tune(tune_config(tiny_settings, binary_csv, run_dir, n_trials=4, pruning=False))

    assert again.new_trials == 1, "n_trials counts the trials done before"
    rows = read_csv(run_dir / "trials.csv")
    assert [(row["trial"], row["state"]) for row in rows] == [
        ("0", "complete"), ("1", "complete"), ("2", "complete"), ("3", "fail"), ("4", "complete"),
    ]  # fmt: skip
    values = [float(row["value"]) for row in rows if row["value"]]
    assert again.best_value == max(values)

    done = tune(tune_config(tiny_settings, binary_csv, run_dir, n_trials=4))
    assert done.new_trials == 0
    assert len(done.trials) == 5


def test_the_pruning_callback_prunes_a_trial_below_the_median() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for value in (0.9, 0.8):
        trial = study.ask()
        trial.report(value, step=1)
        study.tell(trial, value)
    good, bad = study.ask(), study.ask()

    pruning_callback(good, "f1_macro").on_evaluate(None, None, None, metrics={"eval_f1_macro": 0.95})
    callback = pruning_callback(bad, "f1_macro")
    callback.on_evaluate(None, None, None, metrics={"eval_loss": 0.3})  # no f1: nothing reported
    with pytest.raises(optuna.TrialPruned, match=re.escape("f1_macro 0.1 after evaluation 1")):
        callback.on_evaluate(None, None, None, metrics={"eval_f1_macro": 0.1})
    assert callback.values == [0.1]


def test_a_bad_trial_is_pruned_in_training(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    # Two good trials, then a learning rate too small to learn anything: pruned after its first epoch.
    cfg = tune_config(tiny_settings, binary_csv, tmp_path / "study", n_trials=2, epochs=[3, 3])
    tune(cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"learning_rate": (5e-3, 1e-2)})}))
    slow = cfg.tune.model_copy(update={"learning_rate": (1e-9, 2e-9), "n_trials": 3})

    result = tune(cfg.model_copy(update={"tune": slow}))

    assert [row["state"] for row in result.trials] == ["complete", "complete", "pruned"]
    assert not (tmp_path / "study" / "trials" / "002").exists()
    assert not (tmp_path / "study" / "trials" / "002.partial").exists()


def test_a_folder_that_holds_no_study_is_refused(
    tiny_run_dir: Path, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = shutil.copytree(tiny_run_dir, tmp_path / "study")  # a run textfit wrote, not a study
    with pytest.raises(ConfigError, match=re.escape("holds no study (no optuna.db)")) as caught:
        tune(tune_config(tiny_settings, binary_csv, run_dir, n_trials=1))
    assert caught.value.hint == "pass --output-dir to write somewhere else, or --overwrite to replace it"


def test_a_folder_of_other_files_is_refused_even_with_overwrite(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    # Issue 18, item 1: --overwrite deleted the folder whatever it held.
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "notes.txt").write_text("mine")
    message = f"{tmp_path / 'study'} cannot be replaced: it holds files textfit did not write: 'notes.txt'"
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=re.escape(message)) as caught:
            tune(tune_config(tiny_settings, binary_csv, tmp_path / "study", n_trials=1), overwrite=overwrite)
        assert caught.value.hint is not None
        assert caught.value.hint.startswith(
            "pass --output-dir with a new folder, or move those files out of it"
        )
    assert (tmp_path / "study" / "notes.txt").read_text() == "mine"


def test_a_study_folder_holding_the_data_is_never_replaced(
    study: Any, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = shutil.copytree(study.run_dir, tmp_path / "study")
    data = Path(shutil.copy(binary_csv, run_dir / "trials" / "data.csv"))
    with pytest.raises(ConfigError) as caught:
        tune(tune_config(tiny_settings, data, run_dir, n_trials=1), overwrite=True)
    assert caught.value.message == (
        f"{run_dir} holds {data}, which this command reads: textfit never replaces it"
    )
    assert (run_dir / "optuna.db").is_file()
    assert data.is_file()


def test_overwrite_starts_again_and_keeps_the_old_study_until_the_new_one_ends(
    study: Any, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = shutil.copytree(study.run_dir, tmp_path / "study")
    seen: list[bool] = []

    class OldStudyStillThere(TrainerCallback):
        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            seen.append((tmp_path / "study.old" / "optuna.db").is_file())

    result = tune(
        tune_config(tiny_settings, binary_csv, run_dir, n_trials=1, pruning=False),
        overwrite=True,
        trial_callbacks=[OldStudyStillThere()],
    )

    assert seen == [True]
    assert result.new_trials == 1
    assert [row["trial"] for row in read_csv(run_dir / "trials.csv")] == ["0"]
    assert (run_dir / "textfit-run.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"], "the old study removed at the end"


def test_search_ranges_are_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"tune.learning_rate": [0, 1e-3], "tune.epochs": [3, 2], "tune.batch_size": []})
    assert caught.value.message.splitlines()[1:] == [
        "  tune.learning_rate: a log scale needs a low above 0",
        "  tune.epochs: [3, 2] is not a range: give [low, high], 0 <= low <= high",
        "  tune.batch_size: give one or more batch sizes of at least 1",
    ]


def test_tune_without_optuna_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError, match="textfit tune needs the package optuna") as caught:
        tune(tune_config(tiny_settings, binary_csv, tmp_path / "study"))
    assert caught.value.hint == 'pip install "textfit[tune]" (or optuna)'


def test_cli_tune_prints_the_trials_best_first(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    args = ["tune", str(binary_csv), "-o", str(tmp_path / "study"), "--n-trials", "2", "-q"]
    args += [f"--set=train.{k}={v}" for k, v in tiny_settings.items() if k not in ("model", "max_length")]
    args += [f"--set=model.name={tiny_model_dir}", "--set=model.max_length=16", "--set=tune.epochs=[1,1]"]
    args += ["--set=tune.learning_rate=[0.001,0.01]", "--set=tune.batch_size=[4]"]

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"2 trials in {tmp_path / 'study' / 'trials.csv'}, best first (f1_macro):"
    assert lines[1].split() == ["trial", "state", "f1_macro", "learning_rate", "epochs", "batch_size",
                                "warmup_ratio", "weight_decay"]  # fmt: skip
    first, second = (float(line.split()[2]) for line in lines[2:4])
    assert first >= second
    assert lines[-2].startswith("best: trial ")
    assert lines[-1] == f"next: textfit evaluate {tmp_path / 'study' / 'best'} test.csv"
