"""Metrics per group (data.group_column): group_reports, train, evaluate and the CLI tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import textfit
from conftest import CLASS_WORDS, FILLER_WORDS, TINY_TRAIN_SETTINGS, class_rows, write_csv
from textfit import DataError
from textfit.cli.main import app
from textfit.config.schema import DataConfig
from textfit.evaluation import evaluate
from textfit.metrics import classification_report, format_groups, group_reports

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_config(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YAML config with the tiny model and fast settings, for --config."""
    train = {k: v for k, v in TINY_TRAIN_SETTINGS.items() if k != "max_length"}
    model = {"name": str(tiny_model_dir), "max_length": TINY_TRAIN_SETTINGS["max_length"]}
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump({"model": model, "train": train}), encoding="utf-8")
    return path


def with_languages(rows: list[dict[str, Any]], noisy: str = "") -> list[dict[str, Any]]:
    """Rows with a language column (en, fr, then de); the texts of `noisy` rows lose their class words."""
    out = []
    for index, row in enumerate(rows):
        language = ("en", "fr", "de")[index % 3]
        text = row["text"]
        if language == noisy:
            text = " ".join(FILLER_WORDS[(index + k) % len(FILLER_WORDS)] for k in range(3))
        out.append({**row, "text": text, "language": language})
    return out


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("grouped")
    train = write_csv(folder / "train.csv", with_languages(class_rows(CLASS_WORDS, 24)))
    test = write_csv(folder / "test.csv", with_languages(class_rows(CLASS_WORDS, 12, start=24), noisy="de"))
    return train, test


@pytest.fixture(scope="module")
def grouped_run(tmp_path_factory: pytest.TempPathFactory, tiny_settings: dict[str, Any], grouped: Any) -> Any:
    train, test = grouped
    return textfit.train(
        train_file=train,
        test_file=test,
        group_column="language",
        output_dir=tmp_path_factory.mktemp("runs") / "grouped",
        progress=False,
        **tiny_settings,
    )


def test_group_reports_score_each_group_and_put_the_weakest_first() -> None:
    names = ["neg", "pos"]
    label_ids = [0, 1, 0, 1, 0, 1, 1]
    neg, pos = [0.9, 0.1], [0.2, 0.8]  # the predicted label
    # en: 4 of 4 right; fr: 1 of 2 right; the last row, with an empty group, wrong
    probabilities = np.array([neg, pos, neg, pos, neg, neg, neg])
    groups = ["en", "en", "en", "en", "fr", "fr", None]

    reports = group_reports(label_ids, probabilities, names, groups)

    assert list(reports) == ["(empty)", "fr", "en"]
    assert reports["en"] == classification_report([0, 1, 0, 1], probabilities[:4], names)
    assert reports["en"]["accuracy"] == 1.0
    assert reports["fr"]["accuracy"] == 0.5
    assert reports["fr"]["samples"] == 2
    assert reports["(empty)"]["accuracy"] == 0.0
    table = format_groups(reports, "language").splitlines()
    assert table[0].split() == ["language", "accuracy", "macro-F1", "rows"]
    assert table[1].split() == ["(empty)", "0.0000", "0.0000", "1"]
    assert table[3].split() == ["en", "1.0000", "1.0000", "4"]


def test_train_reports_every_metric_per_group(grouped_run: Any) -> None:
    assert grouped_run.metrics["test"]["samples"] == 24
    for split in ("validation", "test"):
        report = grouped_run.metrics[split]
        groups = report["groups"]
        assert set(groups) <= {"en", "fr", "de"}
        assert sum(g["samples"] for g in groups.values()) == report["samples"]
        f1s = [g["f1_macro"] for g in groups.values()]
        assert f1s == sorted(f1s), "weakest group first"
        weighted = sum(g["accuracy"] * g["samples"] for g in groups.values()) / report["samples"]
        assert weighted == pytest.approx(report["accuracy"])
    test_groups = grouped_run.metrics["test"]["groups"]
    assert test_groups["en"]["accuracy"] >= 0.9, "the tiny model learns the class words"
    assert next(iter(test_groups)) == "de", "the group without class words is the weakest"
    saved = json.loads((Path(grouped_run.run_dir) / "metrics.json").read_text(encoding="utf-8"))
    assert saved["test"]["groups"] == json.loads(json.dumps(test_groups))
    report = (Path(grouped_run.run_dir) / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="groups">Metrics per group</h2>' in report
    assert report.index("<td>de</td>") < report.index("<td>en</td>")


def test_evaluate_with_a_group_column(grouped_run: Any, grouped: Any, tmp_path: Path) -> None:
    _, test = grouped
    result = evaluate(  # in fp32, as the tiny run trained and scored its test split
        grouped_run.run_dir, test, DataConfig(group_column="language"), tmp_path / "m.json", precision="fp32"
    )

    assert result.metrics["group_column"] == "language"
    assert result.metrics["groups"] == grouped_run.metrics["test"]["groups"]


def test_evaluate_falls_back_to_the_runs_group_column(
    grouped_run: Any, grouped: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, test = grouped
    caplog.set_level("INFO", logger="textfit")

    result = evaluate(grouped_run.run_dir, test, None, tmp_path / "n.json", precision="fp32")

    assert result.metrics["group_column"] == "language"
    assert result.metrics["groups"] == grouped_run.metrics["test"]["groups"]
    assert "metrics per 'language', as in training (the run's data.group_column)" in caplog.messages


def test_evaluate_without_the_runs_group_column_in_the_file_has_no_groups(
    grouped_run: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = write_csv(tmp_path / "plain.csv", class_rows(CLASS_WORDS, 4, start=40))
    caplog.set_level("INFO", logger="textfit")

    result = evaluate(grouped_run.run_dir, plain, None, tmp_path / "n.json")

    assert "groups" not in result.metrics
    assert (
        f"no metrics per group: {plain} has no column 'language' (the run's data.group_column)"
        in caplog.messages
    )


def test_evaluate_names_a_missing_group_column(grouped_run: Any, grouped: Any, tmp_path: Path) -> None:
    _, test = grouped
    with pytest.raises(DataError, match=re.escape("column 'country'")):
        evaluate(grouped_run.run_dir, test, DataConfig(group_column="country"), tmp_path / "m.json")


def test_cli_train_and_evaluate_print_a_table_per_group(
    tiny_config: Path, grouped: Any, grouped_run: Any, tmp_path: Path
) -> None:
    train, test = grouped
    run_dir = tmp_path / "run"
    trained = runner.invoke(
        app,
        [
            "train", str(train), "--config", str(tiny_config), "--test-file", str(test),
            "--group-column", "language", "-o", str(run_dir), "-q",
        ],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    assert trained.stdout.count("per language, weakest macro-F1 first:") == 2
    table = trained.stdout.split("per language, weakest macro-F1 first:")[2].splitlines()
    assert table[1].split() == ["language", "accuracy", "macro-F1", "rows"]
    assert table[2].split()[0] == "de"
    assert [line.split()[-1] for line in table[2:5]] == ["8", "8", "8"]

    evaluated = runner.invoke(
        app, ["evaluate", str(grouped_run.run_dir), str(test), "--group-column", "language",
              "-o", str(tmp_path / "eval.json"), "-q"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.stderr
    assert "per language, weakest macro-F1 first:" in evaluated.stdout
    fallback = runner.invoke(
        app, ["evaluate", str(grouped_run.run_dir), str(test), "-o", str(tmp_path / "e.json")]
    )
    assert fallback.exit_code == 0, fallback.stderr
    assert "per language, weakest macro-F1 first:" in fallback.stdout  # the run's group column
    assert "metrics per 'language', as in training" in fallback.stderr
    plain = write_csv(tmp_path / "plain.csv", class_rows(CLASS_WORDS, 4, start=40))
    ungrouped = runner.invoke(
        app, ["evaluate", str(grouped_run.run_dir), str(plain), "-o", str(tmp_path / "p.json")]
    )
    assert ungrouped.exit_code == 0, ungrouped.stderr
    assert "weakest" not in ungrouped.stdout
