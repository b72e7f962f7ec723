"""classification_report and format_report, on small cases whose answers are worked out by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest

from textfit.metrics import classification_report, format_report, scalar_metrics, top_k_values

NAMES = ["cat", "dog", "bird"]
# True labels and predictions (the argmax of each row):
#   true  cat cat cat dog dog  bird
#   pred  cat cat dog dog bird bird
TRUE = [0, 0, 0, 1, 1, 2]
PROBABILITIES = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.60, 0.10, 0.30],
        [0.30, 0.60, 0.10],  # cat predicted dog; cat is the second choice: a top-2 hit
        [0.15, 0.80, 0.05],
        [0.30, 0.10, 0.60],  # dog predicted bird; cat is the second choice: a top-2 miss
        [0.10, 0.20, 0.70],
    ]
)


@pytest.fixture
def report() -> dict:
    return classification_report(TRUE, PROBABILITIES, NAMES)


def test_accuracy(report: dict) -> None:
    assert report["samples"] == 6
    assert report["accuracy"] == pytest.approx(4 / 6)


def test_per_class(report: dict) -> None:
    # cat: predicted twice, both right; 2 of 3 found. dog: 1 of 2 predictions right, 1 of 2 found.
    # bird: 1 of 2 predictions right, 1 of 1 found.
    assert report["per_class"]["cat"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert report["per_class"]["dog"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert report["per_class"]["bird"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert list(report["per_class"]) == NAMES
    assert report["labels"] == NAMES


def test_macro_and_weighted_averages(report: dict) -> None:
    assert report["precision_macro"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert report["recall_macro"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert report["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # Weighted by support 3, 2, 1.
    assert report["precision_weighted"] == pytest.approx((3 * 1.0 + 2 * 0.5 + 1 * 0.5) / 6)
    assert report["recall_weighted"] == pytest.approx(4 / 6)
    assert report["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)


def test_confusion_matrix_rows_are_true_labels(report: dict) -> None:
    # One cat was taken for a dog: row cat, column dog. No dog was taken for a cat.
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["confusion_matrix"][0][1] == 1
    assert report["confusion_matrix"][1][0] == 0


def test_top_2_with_three_classes(report: dict) -> None:
    assert report["top_2_accuracy"] == pytest.approx(5 / 6)
    assert "top_3_accuracy" not in report


def test_top_k_needs_more_classes_than_k() -> None:
    assert top_k_values(2) == []
    assert top_k_values(3) == [2]
    assert top_k_values(4) == [2, 3]

    two = classification_report([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]), ["no", "yes"])
    assert not any(key.startswith("top_") for key in two)
    assert two["accuracy"] == 1.0


def test_top_2_and_top_3_with_four_classes() -> None:
    # The true class ranks 1st, 2nd, 3rd and 4th in the four rows.
    probabilities = np.array(
        [
            [0.4, 0.3, 0.2, 0.1],
            [0.4, 0.3, 0.2, 0.1],
            [0.4, 0.3, 0.2, 0.1],
            [0.4, 0.3, 0.2, 0.1],
        ]
    )
    report = classification_report([0, 1, 2, 3], probabilities, ["a", "b", "c", "d"])
    assert report["accuracy"] == pytest.approx(1 / 4)
    assert report["top_2_accuracy"] == pytest.approx(2 / 4)
    assert report["top_3_accuracy"] == pytest.approx(3 / 4)


def test_logits_give_the_same_report_as_probabilities(report: dict) -> None:
    logits = np.log(PROBABILITIES) - 3.0  # negative numbers, same order per row
    assert classification_report(np.array(TRUE), logits, NAMES) == report


def test_a_class_never_predicted_scores_zero_not_an_error() -> None:
    report = classification_report([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), ["no", "yes"])
    assert report["per_class"]["yes"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["confusion_matrix"] == [[1, 0], [1, 0]]


def test_scalar_metrics_are_the_single_numbers(report: dict) -> None:
    scalars = scalar_metrics(report)
    assert set(scalars) == {
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "top_2_accuracy",
    }
    assert scalars["f1_macro"] == report["f1_macro"]


def test_format_report_has_names_and_numbers(report: dict) -> None:
    text = format_report(report, title="validation")
    assert text.splitlines()[0] == "validation"
    assert re.search(r"accuracy\s+0\.6667$", text, re.MULTILINE)
    assert re.search(r"f1_macro\s+0\.6556$", text, re.MULTILINE)
    assert re.search(r"top_2_accuracy\s+0\.8333$", text, re.MULTILINE)
    # Per class: precision, recall, F1, support.
    assert re.search(r"^\s+cat\s+1\.0000\s+0\.6667\s+0\.8000\s+3$", text, re.MULTILINE)
    assert re.search(r"^\s+bird\s+0\.5000\s+1\.0000\s+0\.6667\s+1$", text, re.MULTILINE)
    # Confusion matrix: a header of predicted names, then one row per true label.
    assert "confusion matrix (rows: true, columns: predicted)" in text
    assert re.search(r"^\s+cat\s+dog\s+bird$", text, re.MULTILINE)
    assert re.search(r"^\s+cat\s+2\s+1\s+0$", text, re.MULTILINE)
    assert re.search(r"^\s+dog\s+0\s+1\s+1$", text, re.MULTILINE)


def test_format_report_columns_line_up(report: dict) -> None:
    lines = format_report(report).splitlines()
    header = next(line for line in lines if "precision" in line and "support" in line)
    row = next(line for line in lines if line.strip().startswith("cat ") and "0.8000" in line)
    for column, value in (("precision", "1.0000"), ("recall", "0.6667"), ("f1", "0.8000")):
        assert header.index(column) + len(column) == row.index(value) + len(value), column
    assert len(header) == len(row)


def test_format_report_fits_long_label_names() -> None:
    names = ["a_rather_long_label_name", "b"]
    report = classification_report([0, 1], np.array([[0.9, 0.1], [0.1, 0.9]]), names)
    text = format_report(report)
    assert re.search(r"^\s+a_rather_long_label_name\s+1\s+0$", text, re.MULTILINE)
    assert "title" not in text


def test_macro_average_ignores_a_class_absent_and_never_predicted() -> None:
    # Three known labels; the evaluated file has only 'a' and 'b', all predicted right.
    probabilities = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    report = classification_report([0, 1], probabilities, ["a", "b", "c"])
    assert report["f1_macro"] == pytest.approx(1.0)
    assert report["per_class"]["c"]["support"] == 0
