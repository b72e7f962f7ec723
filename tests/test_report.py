"""The run report: report.html and its PNGs from a run folder, calibration, `textfit report`, and the
page rendered in headless Chromium."""

from __future__ import annotations

import base64
import importlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from browser import run_chromium
from conftest import write_csv
from textfit import DataConfig, DataError, ModelError, TrainResult, evaluate
from textfit.cli.main import app
from textfit.data.rows import read_examples
from textfit.metrics import calibration, classification_report
from textfit.report.page import FIGURE_NAMES, write_report
from textfit.report.predictions import write_predictions

runner = CliRunner()
SECTIONS = ("metrics", "per-class", "confusion", "curves", "calibration", "wrong")
SCRIPT_TEXT = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """The tags, attributes and <img> sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def images(self) -> list[bytes]:
        prefix = "data:image/png;base64,"
        sources = [attrs["src"] or "" for tag, attrs in self.tags if tag == "img"]
        assert all(source.startswith(prefix) for source in sources), "an image not embedded"
        return [base64.b64decode(source.removeprefix(prefix)) for source in sources]


def parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


def assert_self_contained(text: str, page: _Page) -> None:
    assert not re.search(r"(?i)\b(https?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}/", text), "an external address"
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "object", "embed"), tag
        assert "href" not in attrs, (tag, attrs)
        if tag == "script":
            assert "src" not in attrs
        assert (attrs.get("src") or "data:").startswith("data:"), (tag, attrs)


def make_run(
    folder: Path,
    names: list[str],
    true_ids: list[int],
    probabilities: np.ndarray,
    texts: list[str],
    pairs: list[str] | None = None,
    log_history: list[dict[str, Any]] | None = None,
) -> Path:
    """A run folder with only what a report reads: metrics.json, log_history.json, predictions."""
    rows = [{"text": text, "label": names[i]} for text, i in zip(texts, true_ids, strict=True)]
    if pairs is not None:
        for row, pair in zip(rows, pairs, strict=True):
            row["second"] = pair
    table = write_csv(folder / "data.csv", rows)
    examples = read_examples(table, DataConfig(text_pair_column="second" if pairs else None))
    write_predictions(folder / "predictions-validation.parquet", examples, names, probabilities)
    metrics = {"train": {"samples": 10, "epochs": 1}, "test": None}
    metrics["validation"] = classification_report(true_ids, probabilities, names)
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    if log_history is not None:
        (folder / "log_history.json").write_text(json.dumps(log_history), encoding="utf-8")
    return folder


def pngs(folder: Path) -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(folder.glob("*.png"))}


@pytest.fixture
def run_copy(tiny_run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared tiny run, to rebuild reports in."""
    return Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))


# ---------------------------------------------------------------- written by training


def test_training_writes_the_report_its_figures_and_predictions(tiny_run: TrainResult) -> None:
    run_dir = Path(tiny_run.run_dir)
    assert tiny_run.report_file == run_dir / "report.html"
    text, page = parse(run_dir / "report.html")

    assert_self_contained(text, page)
    figures = pngs(run_dir / "figures")
    assert sorted(figures) == sorted(FIGURE_NAMES)  # the tiny run evaluates each epoch: curves
    assert sorted(page.images()) == sorted(figures.values()), "the page embeds exactly the PNG files"
    for section in SECTIONS:
        assert f'<h2 id="{section}">' in text
    assert "<h1>binary</h1>" in text, "named after the run, not its .partial folder"

    validation = pq.read_table(run_dir / "predictions-validation.parquet")
    metrics = tiny_run.metrics["validation"]
    assert validation.num_rows == metrics["samples"]
    assert validation.column_names == [
        "row", "text", "label", "predicted_label", "confidence", "probabilities"
    ]  # fmt: skip
    correct = np.equal(validation["label"].to_pylist(), validation["predicted_label"].to_pylist())
    assert correct.mean() == pytest.approx(metrics["accuracy"])
    probabilities = np.asarray(validation["probabilities"].to_pylist())
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(len(probabilities)), abs=1e-5)
    assert validation["confidence"].to_numpy() == pytest.approx(probabilities.max(axis=1))
    assert json.loads(validation.schema.metadata[b"textfit.labels"]) == ["negative", "positive"]
    assert pq.read_table(run_dir / "predictions-test.parquet").num_rows == 16


# ---------------------------------------------------------------- calibration


def test_calibration_bins_and_ece_on_hand_made_input() -> None:
    curve = calibration([0.95, 0.92, 0.85, 0.55, 0.58, 0.3], [True, False, True, True, False, False])

    assert curve.counts.tolist() == [0, 0, 1, 0, 0, 2, 0, 0, 1, 2]
    assert curve.accuracy[[2, 5, 8, 9]] == pytest.approx([0.0, 0.5, 1.0, 0.5])
    assert curve.confidence[[2, 5, 8, 9]] == pytest.approx([0.3, 0.565, 0.85, 0.935])
    assert np.isnan(curve.accuracy[0])
    # (1 * |0 - 0.3| + 2 * |0.5 - 0.565| + 1 * |1 - 0.85| + 2 * |0.5 - 0.935|) / 6
    assert curve.ece == pytest.approx(1.45 / 6)


def test_calibration_edges_and_a_calibrated_model() -> None:
    edges = calibration([0.0, 0.5, 0.50001, 1.0], [True, True, True, True])
    assert edges.counts.tolist() == [1, 0, 0, 0, 1, 1, 0, 0, 0, 1]  # bins are (lower, upper]

    calibrated = calibration([0.75] * 4 + [0.25] * 4, [True, True, True, False, True] + [False] * 3, bins=4)
    assert calibrated.ece == pytest.approx(0.0)
    assert calibration([], []).ece == 0.0


# ---------------------------------------------------------------- the page's content


def test_texts_and_labels_are_escaped(tmp_path: Path) -> None:
    names = ["<b>ham</b>", "spam & eggs"]
    texts = [SCRIPT_TEXT, "hello there", "win a prize", 'quote " and <img src=x onerror=alert(2)>']
    probabilities = np.array([[0.02, 0.98], [0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    run_dir = make_run(tmp_path, names, [0, 0, 1, 0], probabilities, texts)

    text, page = parse(write_report(run_dir))

    assert SCRIPT_TEXT not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text
    assert "<b>ham" not in text
    assert "&lt;b&gt;ham&lt;/b&gt;" in text
    assert "spam &amp; eggs" in text
    assert [tag for tag, _ in page.tags].count("script") == 1, "only the report's own script"
    assert_self_contained(text, page)
    wrong = text[text.index('<h2 id="wrong">') :]
    assert "2 of 4 predictions are wrong" in wrong
    assert wrong.index("alert(1)") < wrong.index("onerror"), "most confident mistake first"
    assert "0.9800" in wrong
    assert "hello there" not in wrong


def test_many_classes_pairs_and_no_curves(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = [f"class {i:02d}" for i in range(60)]
    true_ids = [i % 60 for i in range(240)]
    probabilities = rng.dirichlet(np.ones(60) * 0.3, size=240)
    texts = [f"first text {i}" for i in range(240)]
    log_history = [{"train_runtime": 1.0, "train_loss": 0.5, "epoch": 1.0, "step": 8}]
    run_dir = make_run(
        tmp_path, names, true_ids, probabilities, texts, [f"second {i}" for i in range(240)], log_history
    )

    text, page = parse(write_report(run_dir))

    figures = pngs(run_dir / "figures")
    assert "curves" not in figures
    assert len(page.images()) == len(figures) == 4
    assert "No curves: the run logged no loss and no validation metrics" in text
    assert "<th>second text</th>" in text
    from PIL import Image

    with Image.open(run_dir / "figures" / "per_class.png") as bars:
        assert bars.height > 1500, "the bar chart grows with the classes"
    with Image.open(run_dir / "figures" / "confusion_counts.png") as heat_map:
        assert 1000 < heat_map.width < 3000


def test_one_evaluation_is_drawn_and_a_missing_predictions_table_is_noted(tmp_path: Path) -> None:
    names = ["a", "b"]
    one_point = [{"eval_loss": 0.4, "eval_accuracy": 0.8, "eval_f1_macro": 0.79, "epoch": 1.0, "step": 5}]
    run_dir = make_run(
        tmp_path, names, [0, 1], np.array([[0.7, 0.3], [0.4, 0.6]]), ["x", "y"], None, one_point
    )
    (run_dir / "predictions-validation.parquet").unlink()

    text, page = parse(write_report(run_dir))

    assert sorted(pngs(run_dir / "figures")) == [
        "confusion_counts",
        "confusion_normalized",
        "curves",
        "per_class",
    ]
    assert "No predictions for this split" in text
    assert len(page.images()) == 4


# ---------------------------------------------------------------- textfit report, evaluate


def test_report_command_rebuilds_from_files_without_the_model(run_copy: Path) -> None:
    (run_copy / "report.html").unlink()
    shutil.rmtree(run_copy / "figures")
    shutil.rmtree(run_copy / "model")  # the report needs no model

    result = runner.invoke(app, ["report", str(run_copy)])

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{run_copy / 'report.html'}\n"
    assert sorted(pngs(run_copy / "figures")) == sorted(FIGURE_NAMES)
    text, _page = parse(run_copy / "report.html")
    assert "<th>validation</th><th>test</th>" in text


def test_report_of_the_test_split(run_copy: Path) -> None:
    result = runner.invoke(app, ["report", str(run_copy), "--split", "test"])

    assert result.exit_code == 0, result.stderr
    text, _ = parse(run_copy / "report-test.html")
    assert "<th>test</th><th>validation</th>" in text
    assert "examples: <b>16</b>" in text, "the test file of training, not the validation split"
    assert sorted(pngs(run_copy / "figures-test")) == sorted(FIGURE_NAMES)


def test_evaluate_writes_a_report_for_its_table(run_copy: Path, binary_test_csv: Path) -> None:
    report = evaluate(run_copy, binary_test_csv)

    assert report.predictions_file == run_copy / "eval-binary_test.predictions.parquet"
    assert pq.read_table(report.predictions_file).num_rows == 16
    assert report.report_file == run_copy / "report-binary_test.html"
    text, page = parse(report.report_file)
    assert "<th>binary_test</th><th>validation</th><th>test</th>" in text
    assert len(page.images()) == len(pngs(run_copy / "figures-binary_test")) == 5
    before = report.report_file.read_text(encoding="utf-8")

    report.report_file.unlink()
    rebuilt = write_report(run_copy, "binary_test")
    assert rebuilt.read_text(encoding="utf-8") == before


def test_evaluate_no_report(run_copy: Path, binary_test_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "m.json"

    result = runner.invoke(
        app, ["evaluate", str(run_copy), str(binary_test_csv), "-o", str(output), "--no-report"]
    )

    assert result.exit_code == 0, result.stderr
    assert f"predictions written to {output.parent / 'm.predictions.parquet'}\n" in result.stdout
    assert "report written" not in result.stdout
    assert sorted(path.name for path in output.parent.iterdir()) == ["m.json", "m.predictions.parquet"]


def assert_cli_error(args: list[str], message: str, hint: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: {message}" in result.stderr
    assert result.stderr.endswith(f"hint: {hint}\n")


def test_report_errors_name_the_problem(run_copy: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-run"
    assert_cli_error(
        ["report", str(missing)], f"run folder {missing} does not exist", "pass the --output-dir of a run"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_cli_error(
        ["report", str(empty)],
        f"{empty} is not a textfit run: it has no metrics.json",
        "pass the folder `textfit train` wrote (runs/<name> by default)",
    )
    assert_cli_error(
        ["report", str(run_copy), "--split", "holdout"],
        f"{run_copy} has no metrics for 'holdout'; it has: validation, test",
        "`textfit evaluate RUN_DIR FILE` writes eval-<file name>.json; then pass --split <file name>",
    )
    with pytest.raises(DataError, match="has no metrics for 'holdout'"):
        write_report(run_copy, "holdout")
    (run_copy / "predictions-validation.parquet").write_bytes(b"not parquet")
    with pytest.raises(
        ModelError, match=re.escape(f"{run_copy / 'predictions-validation.parquet'} is damaged")
    ):
        write_report(run_copy)
    (run_copy / "metrics.json").write_text('{"validation": {"accuracy": 1.0}}', encoding="utf-8")
    with pytest.raises(ModelError, match="lack labels, per_class, confusion_matrix, samples") as err:
        write_report(run_copy)
    assert err.value.hint == "train (or evaluate) again to rewrite it"
    (run_copy / "metrics.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelError, match=re.escape(f"{run_copy / 'metrics.json'} is damaged")):
        write_report(run_copy)
    (run_copy / "metrics.json").write_text("{", encoding="utf-8")
    assert_cli_error(
        ["report", str(run_copy)],
        f"{run_copy / 'metrics.json'} is damaged",
        "train (or evaluate) again to rewrite it",
    )


# ---------------------------------------------------------------- rendered in Chromium


@pytest.mark.subprocess
def test_report_renders_in_headless_chromium(run_copy: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    url = (run_copy / "report.html").as_uri()
    images = len(pngs(run_copy / "figures"))

    dom = run_chromium(tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom", url)
    assert f'data-images-loaded="{images}/{images}"' in dom, "every image decoded (naturalWidth > 0)"

    screenshot = tmp_path / "report.png"
    run_chromium(tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1280,3000", url)
    with Image.open(screenshot) as shot:
        rgb = np.asarray(shot.convert("RGB"), dtype=np.int16)
        assert ImageStat.Stat(shot.convert("L")).stddev[0] > 20, "a blank page"
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert ((rgb < 128).all(axis=-1)).mean() > 0.002, "no text drawn"
    assert ((blue - red > 60) & (blue - green > 20)).sum() > 5000, "no plot drawn (bars, heat maps)"


def test_a_failing_report_costs_the_report_not_the_run(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_module = importlib.import_module(
        "textfit.training.train"
    )  # textfit.train is the function, not this module

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(importlib.import_module("textfit.training.save"), "write_report", broken)
    settings = {**tiny_settings, "epochs": 1}

    result = train_module.train(
        train_file=binary_csv, output_dir=tmp_path / "run", progress=False, **settings
    )

    assert result.report_file is None
    assert (result.run_dir / "model" / "model.safetensors").is_file()
    assert result.warnings[-1] == (
        f"could not write the report (RuntimeError('no fonts')); retry with: textfit report {result.run_dir}"
    )
