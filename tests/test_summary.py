"""What train, tune and check say on the terminal, built by library functions that return strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textfit.checks.base import Check, CheckReport
from textfit.checks.summary import next_step
from textfit.report.summary import metrics_summary
from textfit.training.summary import best_trial, next_steps, train_summary, trial_table
from textfit.training.train import TrainResult
from textfit.training.tune import TuneResult


def _trial(trial: int, state: str, value: float | None, **params: Any) -> dict[str, Any]:
    searched = {"learning_rate": None, "epochs": None, "batch_size": None, "warmup_ratio": None}
    return {"trial": trial, "state": state, "value": value, **searched, "weight_decay": None, **params}


def _study(direction: str = "maximize") -> TuneResult:
    trials = [
        _trial(0, "COMPLETE", 0.5, learning_rate=1e-4),
        _trial(1, "PRUNED", None, learning_rate=3e-5),
        _trial(2, "COMPLETE", 0.75, learning_rate=5e-5),
    ]
    return TuneResult(
        run_dir=Path("runs/study"),
        metric="f1_macro",
        direction=direction,
        best_trial=2,
        best_value=0.75,
        best_params={"learning_rate": 5e-5},
        best_dir=Path("runs/study/best"),
        trials=trials,
        trials_file=Path("runs/study/trials.csv"),
        new_trials=3,
    )


def test_trial_table_lists_the_trials_best_first_with_the_settings_searched() -> None:
    lines = trial_table(_study()).splitlines()

    assert lines[0] == "3 trials in runs/study/trials.csv, best first (f1_macro):"
    assert lines[1].split() == ["trial", "state", "f1_macro", "learning_rate"]  # only what varied
    assert [line.split() for line in lines[2:]] == [
        ["2", "COMPLETE", "0.7500", "5e-05"],
        ["0", "COMPLETE", "0.5000", "0.0001"],
        ["1", "PRUNED", "-", "3e-05"],  # no value: last
    ]
    assert [line.split()[0] for line in trial_table(_study("minimize")).splitlines()[2:]] == ["0", "2", "1"]


def test_a_study_and_a_run_say_what_to_do_next() -> None:
    run = TrainResult(
        run_dir=Path("runs/x"), metrics={"train": {"samples": 90, "runtime_seconds": 12.4}}, precision="fp32"
    )

    assert best_trial(_study()) == "best: trial 2, f1_macro 0.7500; run saved to runs/study/best"
    assert next_steps(_study()) == "next: textfit evaluate runs/study/best test.csv"
    assert next_steps(run) == "next: textfit predict runs/x new_texts.csv -o predictions.csv"
    assert train_summary(run) == "run saved to runs/x\ntrained on 90 rows in 12 s (fp32)"


def test_metrics_summary_adds_the_groups_weakest_first() -> None:
    metrics: dict[str, Any] = {"samples": 4, "accuracy": 0.5, "f1_macro": 0.5, "group_column": "language"}
    plain = metrics_summary(metrics, "test:")
    grouped = metrics_summary(
        metrics | {"groups": {"fr": {"accuracy": 0.0, "f1_macro": 0.0, "samples": 2}}}, "test:"
    )

    assert "per language" not in plain
    assert grouped.startswith(plain + "\n\n  per language, weakest macro-F1 first:\n")
    assert grouped.splitlines()[-1].split()[0] == "fr"


def test_check_says_fix_and_check_again_or_train() -> None:
    failed = CheckReport([Check("columns", "fail", "no label column", hint="pass --label-column")])
    passed = CheckReport([Check("columns", "pass", "text 'text', label 'label'")])

    assert next_step(failed, "data.csv") == "next: pass --label-column; then textfit check data.csv"
    assert next_step(passed, "data.csv --model m") == "next: textfit train data.csv --model m"
