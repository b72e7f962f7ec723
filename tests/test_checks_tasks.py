"""`textfit check` on multi-label and regression tables: labels counted one by one, targets' spread."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textfit.checks.base import CheckReport, format_checks
from textfit.checks.run import check_data
from textfit.cli.main import app
from textfit.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig
from textfit.data.rows import read_examples
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL

Checker = Callable[..., CheckReport]


def topics(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows cycling through ["food"], ["food", "music"], ["sports"], ["music", "sports"] (JSON lists)."""
    lists = [["food"], ["food", "music"], ["sports"], ["music", "sports"]]
    return [{"text": f"text {i}", "labels": json.dumps(lists[i % 4])} for i in range(start, start + count)]


def scores(values: list[float]) -> list[dict[str, Any]]:
    return [{"text": f"text {i}", "score": value} for i, value in enumerate(values)]


@pytest.fixture
def check(make_csv: Callable[..., Path], tiny_model_dir: Path) -> Checker:
    """check(train_rows, validation=rows, task="auto", **data settings) -> CheckReport."""

    def run(
        train: list[dict[str, Any]],
        validation: list[dict[str, Any]] | None = None,
        task: str = "auto",
        **data: Any,
    ) -> CheckReport:
        files = {"train_file": make_csv("train.csv", train)}
        if validation is not None:
            files["validation_file"] = make_csv("val.csv", validation)
        cfg = RunConfig(
            data=DataConfig(**files, **data),
            model=ModelConfig(name=str(tiny_model_dir), max_length=16, task=task),  # type: ignore[arg-type]
            train=TrainConfig(seed=0),
        )
        return check_data(cfg)

    return run


def named(report: CheckReport, name: str) -> Any:
    (found,) = [check for check in report.checks if check.name == name]
    return found


# ---------------------------------------------------------------- multi-label


def test_multi_label_labels_are_counted_one_by_one(check: Checker) -> None:
    rows = [*topics(40), {"text": "about nothing", "labels": "[]"}]
    report = check(rows, validation=topics(8, start=100))

    assert report.task is MULTI_LABEL
    assert report.task_detected is True
    assert [c.name for c in report.checks][:5] == ["columns", "rows", "empty", "labels", "imbalance"]
    labels = named(report, "labels")
    assert labels.status == "pass"
    assert labels.data["training"] == {"food": 20, "music": 20, "sports": 20}  # not '["food", "music"]'
    assert labels.data["validation"] == {"food": 4, "music": 4, "sports": 4}
    assert labels.data["labels_per_row"] == pytest.approx(60 / 41, abs=1e-6)
    assert labels.data["most_labels_per_row"] == 2
    assert labels.data["rows_without_label"] == 1
    assert labels.summary == "3 labels, 1.46 per row on average: food 20, music 20, sports 20"
    assert "labels per training row: mean 1.46, at most 2; 1 row has no label" in labels.details
    assert named(report, "imbalance").summary == "every label has 20 training rows"
    text = format_checks(report)
    assert text.splitlines()[-2:] == [
        "task: multi-label (detected from the labels; JSON lists)",
        f"{len(report.checks)} passed, 0 warnings, 0 failures",
    ]


def test_multi_label_rare_labels_and_labels_missing_from_validation_warn(check: Checker) -> None:
    rows = [*topics(40), *({"text": f"rare {i}", "labels": '["rare"]'} for i in range(3))]

    report = check(rows, validation=topics(8, start=100))

    labels, imbalance = named(report, "labels"), named(report, "imbalance")
    assert labels.status == "warn"
    assert labels.summary == "1 label has no validation rows: 'rare'"
    assert imbalance.status == "warn"
    assert imbalance.summary == "1 label has fewer than 10 training rows: 'rare' (3)"
    assert imbalance.hint.startswith("add rows of the small labels if you can")


def test_multi_label_conflicts_compare_the_labels_not_their_order(check: Checker) -> None:
    rows = [
        *topics(40),
        {"text": "same set", "labels": '["food", "sports"]'},
        {"text": "same set", "labels": '["sports", "food"]'},
        {"text": "other set", "labels": '["food"]'},
        {"text": "other set", "labels": '["food", "music"]'},
    ]

    conflicts = named(check(rows, validation=topics(8, start=100)), "conflicts")

    assert conflicts.status == "warn"
    assert conflicts.data == {"texts": 1, "rows": 2}
    assert conflicts.details == [
        "'other set': '[\"food\"]' at train.csv row 43 (line 44), "
        '\'["food", "music"]\' at train.csv row 44 (line 45)'
    ]


def test_multi_label_groups_lacking_a_label_warn(check: Checker) -> None:
    rows = [{**row, "site": "a" if i % 4 != 2 else "b"} for i, row in enumerate(topics(40))]

    groups = named(check(rows, validation=topics(8, start=100), group_column="site"), "groups")

    assert groups.status == "warn"
    assert groups.summary == "1 group lacks a label in training: 'b' has no 'food', 'music'"
    assert groups.data["labels"] == {"a": {"food": 20, "music": 20, "sports": 10}, "b": {"sports": 10}}


def test_multi_label_validation_label_unknown_to_training_fails(check: Checker) -> None:
    validation = [*topics(4, start=100), {"text": "new", "labels": '["food", "travel"]'}]

    report = check(topics(40), validation=validation)

    assert [c.name for c in report.failed] == ["labels"]
    assert "val.csv: 1 row has a label the model was not trained on: row 5 (line 6) has" in (
        report.failed[0].summary
    )


def test_cli_check_takes_task_and_label_delimiter(
    make_csv: Callable[..., Path], tiny_model_dir: Path
) -> None:
    rows = [{"text": row["text"], "labels": "|".join(json.loads(row["labels"]))} for row in topics(40)]
    data = make_csv("data.csv", rows)
    args = ["check", str(data), "--model", str(tiny_model_dir), "--max-length", "16"]

    ambiguous = CliRunner().invoke(app, args)
    given = CliRunner().invoke(app, [*args, "--task", "multi_label", "--label-delimiter", "|"])
    as_json = CliRunner().invoke(app, [*args, "--label-delimiter", "|", "--json"])

    assert ambiguous.exit_code == 1
    assert "FAIL  labels" in ambiguous.stdout
    assert "hint: pass --task multi_label --label-delimiter '|'" in ambiguous.stdout
    assert given.exit_code == 0, given.stderr
    assert "PASS  labels      3 labels, 1.50 per row on average: food " in given.stdout
    assert "task: multi-label (given; labels joined by '|')" in given.stdout
    assert given.stdout.splitlines()[-1] == (
        f"next: textfit train {data} --model {tiny_model_dir} --max-length 16 --task multi_label "
        "--label-delimiter '|'"
    )
    report = json.loads(as_json.stdout)
    assert (report["task"], report["label_delimiter"], report["task_detected"]) == ("multi_label", "|", True)
    labels = next(c for c in report["checks"] if c["name"] == "labels")
    assert set(labels["data"]["training"]) == {"food", "music", "sports"}  # not "food|music"


def test_label_occurrences_per_task(make_csv: Callable[..., Path]) -> None:
    examples = read_examples(
        make_csv("t.csv", [*topics(4), {"text": "x", "labels": '["food", "food"]'}]), DataConfig()
    )

    assert MULTI_LABEL.occurrences(examples, None) == {"food": 3, "music": 2, "sports": 2}
    assert SINGLE_LABEL.occurrences(examples, None)['["food"]'] == 1
    assert REGRESSION.occurrences(examples, None) == {}


# ---------------------------------------------------------------- regression


def test_regression_reports_the_targets_spread_and_no_class_checks(check: Checker) -> None:
    values = [float(v) for v in range(-10, 30)] + [0.5]  # 41 values; the .5 makes it regression
    rows = [*scores(values), {"text": "same", "score": "2.5"}, {"text": "same", "score": "2.50"}]
    rows += [{"text": "twice", "score": "1.5"}, {"text": "twice", "score": "-1.5"}]

    report = check(rows, label_column="score")

    assert report.task is REGRESSION
    names = [c.name for c in report.checks]
    assert names == ["columns", "rows", "empty", "target", "duplicates", "overlap", "conflicts", "length"]
    target = named(report, "target")
    assert target.status == "pass"
    assert set(target.data) == {"training", "validation"}
    training = target.data["training"]
    assert training["count"] + target.data["validation"]["count"] == 45
    assert set(training) == {"count", "min", "median", "mean", "max", "std"}
    assert training["min"] >= -10
    assert training["max"] <= 29
    assert target.summary.startswith(f"training targets: {training['count']} values, min ")
    conflicts = named(report, "conflicts")
    assert conflicts.data == {"texts": 1, "rows": 2}  # 'twice'; 2.5 and 2.50 are the same number
    assert conflicts.details[0].startswith("'twice': '1.5' at train.csv ")
    assert format_checks(report).splitlines()[-2] == "task: regression (detected from the labels)"


def test_regression_spread_is_exact(check: Checker) -> None:
    train = scores([1.0, 2.0, 3.0, 4.0, 10.5])
    validation = scores([0.5, 1.5])

    report = check(train, validation=validation, task="regression", label_column="score")

    target = named(report, "target")
    assert target.data["training"] == {
        "count": 5,
        "min": 1.0,
        "median": 3.0,
        "mean": pytest.approx(4.1),
        "max": 10.5,
        "std": pytest.approx(3.3526109),
    }
    assert target.details == [
        "training: 5 values, min 1, median 3, mean 4.1, max 10.5, std 3.353",
        "validation: 2 values, min 0.5, median 1, mean 1, max 1.5, std 0.5",
    ]
    assert report.task_line() == "task: regression (given)"


def test_regression_of_whole_numbers_with_task_and_a_constant_target(check: Checker) -> None:
    report = check(scores([3.0] * 12), task="regression", label_column="score")

    target = named(report, "target")
    assert target.status == "warn"
    assert target.summary == "every training target is 3: a regression model has nothing to learn"
    assert target.hint == "check --label-column: it should hold the number to predict"


def test_regression_of_words_is_a_failed_labels_check(check: Checker) -> None:
    report = check(
        [*scores([1.5, 2.5]), {"text": "w", "score": "high"}], task="regression", label_column="score"
    )

    assert [c.name for c in report.checks] == ["labels"]
    assert report.failed[0].summary.endswith(
        "train.csv: regression needs a number in every label cell; 1 value is not: 'high'"
    )
    hint = "fix those labels, or pass --task single_label to treat the values as classes"
    assert report.failed[0].hint == hint


def test_regression_groups_show_rows_and_mean_target(check: Checker) -> None:
    rows = [{**row, "site": "a" if i % 2 else "b"} for i, row in enumerate(scores([0.5, 1.5] * 10))]

    groups = named(check(rows, rows[:4], label_column="score", group_column="site"), "groups")

    assert groups.status == "pass"
    assert groups.data["mean_target"] == {"a": 1.5, "b": 0.5}
    assert groups.details == ["a: 10 rows, mean target 1.5", "b: 10 rows, mean target 0.5"]
