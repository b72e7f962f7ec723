"""The report of multi-label and regression runs: sections, figures, escaping, from hand-made run folders."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from conftest import write_csv
from test_report import SCRIPT_TEXT, assert_self_contained, parse, pngs
from textfit.cli.main import app
from textfit.config.schema import DataConfig
from textfit.data.labels import LabelSet
from textfit.data.rows import read_examples
from textfit.data.tasks import MULTI_LABEL, REGRESSION, label_matrix
from textfit.metrics import multilabel_report, regression_report
from textfit.report.page import write_report
from textfit.report.predictions import write_task_predictions

HOSTILE = "<script>alert(1)</script>"
LOG = [
    {"loss": 0.7, "step": 2, "epoch": 1.0},
    {"eval_loss": 0.6, "eval_f1_micro": 0.5, "eval_rmse": 1.2, "step": 2, "epoch": 1.0},
    {"loss": 0.4, "step": 4, "epoch": 2.0},
    {"eval_loss": 0.3, "eval_f1_micro": 0.8, "eval_rmse": 0.6, "step": 4, "epoch": 2.0},
]


def assert_not_blank(png: bytes) -> None:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width > 300
        assert image.height > 200
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10, "a blank figure"


def multi_label_run(folder: Path, log: list[dict[str, Any]] | None = LOG) -> Path:
    """Rows with 'sports', 'food' and the hostile label; hand-made probabilities and thresholds."""
    lists = [["sports"], ["food"], ["sports", HOSTILE], [HOSTILE], ["food", "sports"], []]
    texts = [SCRIPT_TEXT, "pizza", "goal <b>bold</b>", "x", "pizza goal", "nothing"]
    rows = [{"text": t, "labels": json.dumps(labels)} for t, labels in zip(texts, lists, strict=True)]
    examples = read_examples(write_csv(folder / "data.csv", rows), DataConfig())
    labels = LabelSet.from_labels(["sports", "food", HOSTILE])
    truth = label_matrix(examples, labels, None)
    names = list(labels.names)
    probabilities = np.array(
        [  # in names order: <script>, food, sports (LabelSet sorts)
            [0.97, 0.10, 0.90],  # <script> given wrongly with 0.97: the most confident mistake
            [0.05, 0.80, 0.20],
            [0.40, 0.10, 0.95],  # <script> missed at 0.40 (threshold 0.3: given) -> right
            [0.20, 0.10, 0.10],  # <script> missed: 1 - 0.2 = 0.8
            [0.10, 0.90, 0.85],
            [0.10, 0.10, 0.10],
        ],
        dtype=np.float32,
    )
    assert names == [HOSTILE, "food", "sports"]
    thresholds = [0.3, 0.5, 0.5]
    write_task_predictions(
        folder / "predictions-validation.parquet",
        MULTI_LABEL,
        examples,
        names,
        probabilities,
        truth,
        thresholds,
    )
    metrics = {
        "task": "multi_label",
        "train": {"samples": 10, "epochs": 2},
        "validation": multilabel_report(truth, probabilities, names, thresholds),
        "test": None,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    if log is not None:
        (folder / "log_history.json").write_text(json.dumps(log), encoding="utf-8")
    return folder


def regression_run(folder: Path) -> Path:
    values = [1.0, 2.0, 3.0, 4.0, 5.5]
    predicted = np.array([[1.1], [2.0], [1.0], [4.2], [5.0]], dtype=np.float32)  # row 3: error -2
    texts = ["one", "two", SCRIPT_TEXT, "four", "five"]
    rows = [{"text": t, "score": v} for t, v in zip(texts, values, strict=True)]
    examples = read_examples(write_csv(folder / "data.csv", rows), DataConfig(label_column="score"))
    truth = np.asarray(values, dtype=np.float32)
    write_task_predictions(
        folder / "predictions-validation.parquet", REGRESSION, examples, ["score"], predicted, truth
    )
    metrics = {
        "task": "regression",
        "train": {"samples": 10, "epochs": 2},
        "validation": regression_report(truth, predicted[:, 0]),
        "test": None,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (folder / "log_history.json").write_text(json.dumps(LOG), encoding="utf-8")
    return folder


# ---------------------------------------------------------------- multi-label


def test_multi_label_report_sections_figures_and_decisions(tmp_path: Path) -> None:
    run_dir = multi_label_run(tmp_path)

    text, page = parse(write_report(run_dir))

    assert_self_contained(text, page)
    for section in ("metrics", "per-label", "decisions", "cooccurrence", "curves", "wrong"):
        assert f'<h2 id="{section}">' in text
    figures = pngs(run_dir / "figures")
    assert sorted(figures) == ["cooccurrence", "curves", "per_label"]
    assert sorted(page.images()) == sorted(figures.values()), "the page embeds exactly the PNG files"
    for png in figures.values():
        assert_not_blank(png)
    assert "task: <b>multi-label</b>" in text
    assert "<td>f1 (micro)</td>" in text
    # sports: true in rows 1, 3, 5; predicted (>= 0.5) in rows 1, 3, 5: 3 TP, 0 FP, 0 FN, 3 TN
    assert (
        '<tr><td>sports</td><td class="n">3</td><td class="n">0</td><td class="n">0</td>'
        '<td class="n">3</td></tr>' in text
    )
    # the hostile label: true in rows 3, 4; predicted (>= 0.3) in rows 1, 3: 1 TP, 1 FP, 1 FN, 3 TN
    assert (
        '<tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td class="n">1</td><td class="n">1</td>'
        '<td class="n">1</td><td class="n">3</td></tr>'
    ) in text
    assert '<td class="n">0.3000</td>' in text, "the tuned threshold"


def test_multi_label_report_escapes_labels_and_texts_and_ranks_mistakes(tmp_path: Path) -> None:
    run_dir = multi_label_run(tmp_path)

    text, page = parse(write_report(run_dir))

    assert HOSTILE not in text
    assert "<b>bold" not in text
    assert [tag for tag, _ in page.tags].count("script") == 1, "only the report's own script"
    wrong = text[text.index('<h2 id="wrong">') :]
    assert "2 of 6 rows have a label decided wrong" in wrong
    first, second = (
        wrong.index('<td class="n">1</td><td class="n">0.9700</td>'),
        wrong.index('<td class="n">4</td><td class="n">0.8000</td>'),
    )
    assert first < second, "the most confident wrong decision first"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 0.97 (given, not true)" in wrong
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 0.20 (missed)" in wrong
    assert "pizza" not in wrong


def test_multi_label_report_without_predictions_or_curves(tmp_path: Path) -> None:
    run_dir = multi_label_run(tmp_path, log=None)
    (run_dir / "predictions-validation.parquet").unlink()

    text, _ = parse(write_report(run_dir))

    assert sorted(pngs(run_dir / "figures")) == ["per_label"]
    assert "No predictions for this split: no decision counts, co-occurrence or examples" in text
    assert "No curves: the run logged no loss" in text


def test_multi_label_predictions_table(tmp_path: Path) -> None:
    multi_label_run(tmp_path)

    table = pq.read_table(tmp_path / "predictions-validation.parquet")

    assert table.column_names == ["row", "text", "label", "true", "probabilities"]
    assert table["true"].to_pylist()[2] == [1, 0, 1]
    assert table["row"].to_pylist() == [1, 2, 3, 4, 5, 6]
    metadata = table.schema.metadata
    assert json.loads(metadata[b"textfit.labels"]) == [HOSTILE, "food", "sports"]
    assert json.loads(metadata[b"textfit.thresholds"]) == [0.3, 0.5, 0.5]
    assert metadata[b"textfit.task"] == b"multi_label"


# ---------------------------------------------------------------- regression


def test_regression_report_scatter_residuals_and_largest_errors(tmp_path: Path) -> None:
    run_dir = regression_run(tmp_path)

    text, page = parse(write_report(run_dir))

    assert_self_contained(text, page)
    for section in ("metrics", "scatter", "residuals", "curves", "errors"):
        assert f'<h2 id="{section}">' in text
    figures = pngs(run_dir / "figures")
    assert sorted(figures) == ["curves", "residuals", "scatter"]
    assert sorted(page.images()) == sorted(figures.values())
    for png in figures.values():
        assert_not_blank(png)
    assert "<td>RMSE</td>" in text
    assert SCRIPT_TEXT not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    errors = text[text.index('<h2 id="errors">') :]
    assert errors.index(
        '<td class="n">3</td><td class="n">3.0000</td><td class="n">1.0000</td>'
    ) < errors.index('<td class="n">5</td><td class="n">5.5000</td>'), "the largest error first"
    assert '<td class="n">-2.0000</td>' in errors
    assert "largest <b>2</b>" in text


def test_report_command_builds_the_report_of_any_task(tmp_path: Path) -> None:
    for run_dir in (multi_label_run(tmp_path / "multi"), regression_run(tmp_path / "regression")):
        result = CliRunner().invoke(app, ["report", str(run_dir)])

        assert result.exit_code == 0, result.stderr
        assert result.stdout == f"{run_dir / 'report.html'}\n"
        assert (run_dir / "report.html").is_file()


def test_a_damaged_task_report_names_the_missing_metrics(tmp_path: Path) -> None:
    run_dir = regression_run(tmp_path)
    (run_dir / "metrics.json").write_text(
        json.dumps({"task": "regression", "validation": {"samples": 3}}), encoding="utf-8"
    )

    result = CliRunner().invoke(app, ["report", str(run_dir)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: {run_dir / 'metrics.json'} is damaged: its metrics lack rmse, mae" in result.stderr
    assert result.stderr.endswith("hint: train (or evaluate) again to rewrite it\n")


@pytest.mark.parametrize("task", ["multi_label", "regression"])
def test_damaged_predictions_table_is_named(tmp_path: Path, task: str) -> None:
    run_dir = multi_label_run(tmp_path) if task == "multi_label" else regression_run(tmp_path)
    table = pq.read_table(run_dir / "predictions-validation.parquet")
    pq.write_table(table.drop_columns(["text"]), run_dir / "predictions-validation.parquet")

    result = CliRunner().invoke(app, ["report", str(run_dir)])

    assert result.exit_code == 1
    assert "predictions-validation.parquet is damaged: it has no column text" in result.stderr
