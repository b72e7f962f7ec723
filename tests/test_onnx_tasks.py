"""ONNX export of multi-label and regression runs: task-aware checks against PyTorch, prediction shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import textfit
from conftest import read_csv, write_csv
from test_cli import invoke
from test_tasks import score_rows, topic_rows
from textfit import Classifier
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, task_named
from textfit.inference.onnx import MAX_RMSE_INCREASE, OnnxClassifier, check_bounds, check_model, export_onnx


@pytest.fixture(scope="module")
def task_runs(tiny_settings: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny multi-label run (labels joined by '|') and a tiny regression run, each with a test file."""
    folder = tmp_path_factory.mktemp("onnx-tasks")
    settings = {**tiny_settings, "epochs": 3}
    runs = {}
    for task, rows, test_rows, extra in (
        ("multi_label", topic_rows(48, 0), topic_rows(16, 1), {"label_delimiter": "|"}),
        ("regression", score_rows(40, 0), score_rows(16, 1), {"label_column": "score"}),
    ):
        result = textfit.train(
            train_file=write_csv(folder / f"{task}.csv", rows),
            test_file=write_csv(folder / f"{task}_test.csv", test_rows),
            output_dir=folder / task,
            progress=False,
            **settings,
            **extra,
        )
        assert result.metrics["task"] == task
        runs[task] = result.run_dir
    return runs


def test_multi_label_check_compares_each_decision_and_micro_f1() -> None:
    pytorch = np.full((100, 2), 0.8, dtype=np.float32)  # 200 decisions, every label given
    truth = np.ones((100, 2), dtype=np.float32)
    two_flips = pytorch.copy()
    two_flips[0, 0] = two_flips[1, 1] = 0.2
    three_flips = two_flips.copy()
    three_flips[2, 0] = 0.2
    thresholds = np.array([0.5, 0.5], dtype=np.float32)

    passed = check_model("int8", pytorch, two_flips, None, ["a", "b"], MULTI_LABEL, thresholds)
    failed = check_model("int8", pytorch, three_flips, None, ["a", "b"], MULTI_LABEL, thresholds)
    scored = check_model("int8", pytorch, two_flips, truth, ["a", "b"], MULTI_LABEL, thresholds)
    higher = check_model("int8", pytorch, two_flips, truth, ["a", "b"], MULTI_LABEL, thresholds * 0 + 0.1)

    assert (passed.agreement, passed.passed, passed.metric) == (0.99, True, "f1_micro")
    assert (failed.agreement, failed.passed) == (0.985, False)
    assert scored.score_pytorch == 1.0
    assert scored.score == pytest.approx(2 * 198 / (2 * 198 + 2))
    assert not scored.passed, "micro-F1 0.005 lower"
    assert higher.passed, "at threshold 0.1 the 0.2 probabilities still give the labels"


def test_regression_check_compares_values_and_rmse() -> None:
    rng = np.random.default_rng(0)
    pytorch = rng.normal(size=(100, 1)).astype(np.float32)
    truth = pytorch[:, 0] + rng.normal(scale=0.5, size=100).astype(np.float32)
    close = pytorch + 0.001
    one_off = close.copy()
    one_off[0] += 1.0  # one value far off: 99% still agree

    same = check_model("int8", pytorch, close, truth, ["score"], REGRESSION)
    off = check_model("int8", pytorch, one_off, None, ["score"], REGRESSION)
    exact = pytorch[:, 0].copy()  # PyTorch is right: the one value off costs RMSE 0.1
    off_scored = check_model("int8", pytorch, one_off, exact, ["score"], REGRESSION)
    two_off = one_off.copy()
    two_off[1] += 1.0

    assert (same.passed, same.metric, same.agreement) == (True, "rmse", 1.0)
    assert same.score == pytest.approx(same.score_pytorch, abs=1e-3)
    assert (off.agreement, off.passed) == (0.99, True)
    assert off.max_difference == pytest.approx(1.001, abs=1e-4)
    assert off_scored.score is not None
    assert off_scored.score_pytorch is not None
    assert off_scored.score == pytest.approx(0.1, abs=1e-3)
    assert off_scored.score - off_scored.score_pytorch > MAX_RMSE_INCREASE * float(np.std(exact))
    assert not off_scored.passed
    assert not check_model("int8", pytorch, two_off, None, ["score"], REGRESSION).passed


def test_bounds_are_stated_per_task() -> None:
    assert check_bounds(SINGLE_LABEL) == "labels agree on >= 99%, macro-F1 at most 0.005 lower"
    assert check_bounds(MULTI_LABEL) == "label decisions agree on >= 99%, micro-F1 at most 0.005 lower"
    assert check_bounds(REGRESSION) == (
        "values within 5% of the standard deviation of PyTorch's on >= 99% of the texts, "
        "RMSE at most 1% of the targets' standard deviation higher"
    )


@pytest.mark.parametrize("task", ["multi_label", "regression"])
def test_export_checks_the_task_and_onnx_predicts_like_pytorch(
    task_runs: dict[str, Path], task: str, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(task_runs[task], tmp_path / "run"))
    test_file = tmp_path / "test.csv"
    shutil.copy(task_runs[task].parent / f"{task}_test.csv", test_file)

    exported = invoke("export", run_dir, "--check", test_file, "--quantize", "none", "-q")
    onnx_out, torch_out = tmp_path / "onnx.csv", tmp_path / "torch.csv"
    onnx_run = invoke("predict", run_dir, test_file, "--backend", "onnx", "-o", onnx_out, "-q")
    torch_run = invoke("predict", run_dir, test_file, "--precision", "fp32", "-o", torch_out, "-q")

    assert exported.exit_code == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert (
        lines[0] == f"checked on {test_file} against PyTorch fp32 (bounds: {check_bounds(task_named(task))})"
    )
    score = "micro-F1" if task == "multi_label" else "RMSE"
    agreeing = "decisions agree" if task == "multi_label" else "values agree"
    assert lines[1].startswith(f"| model | {agreeing} | ")
    assert f"| {score} | PyTorch {score} | change | passed |" in lines[1]
    assert lines[3].startswith("| fp32 | 100.00% | ")
    assert lines[3].endswith(" | +0.0000 | yes |")
    report = json.loads((run_dir / "onnx" / "check.json").read_text(encoding="utf-8"))
    assert report["task"] == task
    (fp32,) = report["checks"]
    assert fp32["metric"] == ("f1_micro" if task == "multi_label" else "rmse")
    assert fp32["score"] == pytest.approx(fp32["score_pytorch"], abs=1e-6)
    assert onnx_run.exit_code == 0, onnx_run.stderr
    assert torch_run.exit_code == 0, torch_run.stderr
    onnx_rows, torch_rows = read_csv(onnx_out), read_csv(torch_out)
    assert list(onnx_rows[0]) == list(torch_rows[0])  # the same columns
    if task == "regression":
        assert list(onnx_rows[0])[-1] == "predicted_value"
        onnx_values = [float(row["predicted_value"]) for row in onnx_rows]
        torch_values = [float(row["predicted_value"]) for row in torch_rows]
        assert onnx_values == pytest.approx(torch_values, abs=1e-4)
    else:
        assert list(onnx_rows[0])[-2:] == ["predicted_labels", "label_probabilities"]
        assert [row["predicted_labels"] for row in onnx_rows] == [
            row["predicted_labels"] for row in torch_rows
        ]


@pytest.mark.parametrize("task", ["multi_label", "regression"])
def test_onnx_classifier_outputs_have_the_torch_shape(
    task_runs: dict[str, Path], task: str, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(task_runs[task], tmp_path / "run"))
    texts = ["pizza goal the", "good great", "bad sad it"]
    export_onnx(run_dir, task_runs[task].parent / f"{task}_test.csv", int8=False)

    onnx = OnnxClassifier.load(run_dir)
    reference = Classifier.load(run_dir, precision="fp32")

    assert onnx.task is reference.task is task_named(task)
    assert onnx.predict_proba(texts).shape == reference.predict_proba(texts).shape
    np.testing.assert_allclose(onnx.predict_proba(texts), reference.predict_proba(texts), atol=1e-4)
    onnx_first, torch_first = onnx.predict(texts)[0], reference.predict(texts)[0]
    assert onnx_first.label == torch_first.label
    assert [name for name, _ in onnx_first.labels] == [name for name, _ in torch_first.labels]
    assert (onnx_first.value is None) == (torch_first.value is None) == (task != "regression")
