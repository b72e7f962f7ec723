"""Classification metrics, computed with scikit-learn (no network), and the calibration of probabilities.

`evaluation_report` scores a task's predictions against the labels of its examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task

EMPTY_GROUP = "(empty)"  # the group of rows whose group cell is empty


def top_k_values(num_labels: int) -> list[int]:
    """The k of the top-k accuracies worth reporting: 2 and 3, where there are more classes than k."""
    return [k for k in (2, 3) if k < num_labels]


def classification_report(
    label_ids: NDArray[np.int64] | list[int],
    probabilities: NDArray[np.floating[Any]],
    names: list[str],
) -> dict[str, Any]:
    """Every metric of one evaluation.

    Args:
        label_ids: true label ids, shape (n,).
        probabilities: class probabilities (or logits: only their order is used), shape (n, classes).
        names: label names, in id order.

    Returns:
        accuracy; precision / recall / F1, macro and weighted; top-k accuracy; per class precision,
        recall, F1 and support; the confusion matrix (rows: true label, columns: predicted).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(label_ids)
    y_pred = probabilities.argmax(axis=-1)
    ids = list(range(len(names)))
    report: dict[str, Any] = {
        "samples": len(y_true),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
    }
    # Averages cover the classes that occur (as truth or prediction): a class absent from the
    # evaluated file and never predicted would otherwise count as an F1 of 0 in the macro average.
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=present, average=average, zero_division=0
        )
        report[f"precision_{average}"] = float(precision)
        report[f"recall_{average}"] = float(recall)
        report[f"f1_{average}"] = float(f1)
    ranked = np.argsort(-probabilities, axis=-1)
    for k in top_k_values(len(names)):
        report[f"top_{k}_accuracy"] = float((ranked[:, :k] == y_true[:, None]).any(axis=1).mean())
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    report["per_class"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    report["labels"] = list(names)
    report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    return report


def group_reports(
    label_ids: NDArray[np.int64] | list[int],
    probabilities: NDArray[np.floating[Any]],
    names: list[str],
    groups: Sequence[str | None],
) -> dict[str, dict[str, Any]]:
    """A classification_report per group (a language, a source), the weakest macro-F1 first.

    Args:
        label_ids: true label ids, shape (n,).
        probabilities: class probabilities, shape (n, classes).
        names: label names, in id order.
        groups: each example's group; None or "" (an empty cell) is the group "(empty)".

    Returns:
        {group: report}, ordered by macro-F1, then accuracy, then name.
    """
    y_true = np.asarray(label_ids)
    keys = np.array([group or EMPTY_GROUP for group in groups], dtype=object)
    reports = {
        str(group): classification_report(y_true[keys == group], probabilities[keys == group], names)
        for group in sorted(set(keys.tolist()))
    }
    order = sorted(reports, key=lambda group: (reports[group]["f1_macro"], reports[group]["accuracy"]))
    return {group: reports[group] for group in order}


def format_groups(groups: dict[str, dict[str, Any]], column: str = "group") -> str:
    """A table of accuracy, macro-F1 and rows per group, in the given order (weakest first)."""
    width = max(len(column), *(len(name) for name in groups))
    lines = [f"  {column:<{width}}  accuracy  macro-F1     rows"]
    lines += [
        f"  {name:<{width}}  {report['accuracy']:8.4f}  {report['f1_macro']:8.4f}  {report['samples']:7d}"
        for name, report in groups.items()
    ]
    return "\n".join(lines)


def scalar_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The single-number metrics of a report (what the Trainer logs and compares)."""
    return {key: value for key, value in report.items() if isinstance(value, float)}


@dataclass
class Calibration:
    """A reliability curve: per confidence bin (lower, upper], its examples, accuracy and confidence."""

    edges: NDArray[np.float64]  # (bins + 1,)
    counts: NDArray[np.int64]  # (bins,)
    accuracy: NDArray[np.float64]  # (bins,), NaN for an empty bin
    confidence: NDArray[np.float64]  # (bins,) mean confidence, NaN for an empty bin
    ece: float  # expected calibration error: sum over bins of count / n * |accuracy - confidence|


def calibration(
    confidences: Sequence[float] | NDArray[np.floating[Any]],
    correct: Sequence[bool] | NDArray[np.bool_],
    bins: int = 10,
) -> Calibration:
    """A reliability curve of top-label confidences, in `bins` equal bins of [0, 1].

    Args:
        confidences: the probability of each predicted label, shape (n,).
        correct: whether each prediction was right, shape (n,).
        bins: how many bins; bin b holds the confidences in (b / bins, (b + 1) / bins], 0 in the first.

    Returns:
        Per bin its examples, accuracy and mean confidence, and the expected calibration error.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sums = np.bincount(index, weights=conf, minlength=bins)
    hit_sums = np.bincount(index, weights=hits, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy, confidence = hit_sums / counts, conf_sums / counts
    ece = float(np.abs(hit_sums - conf_sums).sum() / len(conf)) if len(conf) else 0.0
    return Calibration(edges, counts.astype(np.int64), accuracy, confidence, ece)


def format_report(report: dict[str, Any], title: str = "") -> str:
    """A readable table: the overall metrics, then precision / recall / F1 / support per class.

    Multi-label reports have their rows per label (with its threshold), and no confusion matrix;
    regression reports only the overall metrics.
    """
    lines = [title] if title else []
    overall = scalar_metrics(report)
    width = max(len(key) for key in overall)
    lines += [f"  {key:<{width}}  {value:.4f}" for key, value in overall.items()]
    rows = report.get("per_class") or report.get("per_label")
    if not rows:
        return "\n".join(lines)
    names = list(rows)
    name_width = max(10, *(len(name) for name in names))
    threshold = "per_label" in report
    lines.append("")
    lines.append(
        f"  {'label':<{name_width}}  precision  recall      f1  support"
        + ("  threshold" if threshold else "")
    )
    for name, row in rows.items():
        lines.append(
            f"  {name:<{name_width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  "
            f"{row['f1']:.4f}  {row['support']:7d}" + (f"  {row['threshold']:9.2f}" if threshold else "")
        )
    if "confusion_matrix" not in report:
        return "\n".join(lines)
    lines.append("")
    lines.append("  confusion matrix (rows: true, columns: predicted)")
    cell = max(
        6,
        *(len(name) for name in names),
        *(len(str(v)) for r in report["confusion_matrix"] for v in r),
    )
    lines.append("  " + " " * name_width + "".join(f"  {name:>{cell}}" for name in names))
    for name, row in zip(names, report["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{name_width}}" + "".join(f"  {value:>{cell}}" for value in row))
    return "\n".join(lines)


# ---------------------------------------------------------------- multi-label and regression

# The thresholds tried per label when they are tuned on the validation set.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def tune_thresholds(
    label_matrix: NDArray[np.floating[Any]], probabilities: NDArray[np.floating[Any]]
) -> list[float]:
    """Per label, the threshold of THRESHOLD_GRID with the best F1 on these rows (ties: nearest 0.5).

    Args:
        label_matrix: true labels, 1 or 0, shape (n, labels).
        probabilities: sigmoid probabilities, shape (n, labels).
    """
    truth = np.asarray(label_matrix) > 0.5
    thresholds = []
    for column in range(truth.shape[1]):
        predicted = probabilities[:, column][:, None] >= THRESHOLD_GRID[None, :]  # (n, grid)
        positive = truth[:, column][:, None]
        hits = (predicted & positive).sum(axis=0)
        f1 = 2 * hits / np.maximum(predicted.sum(axis=0) + positive.sum(), 1)
        best = np.flatnonzero(f1 == f1.max())
        thresholds.append(float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - 0.5))]]))
    return thresholds


def multilabel_report(
    label_matrix: NDArray[np.floating[Any]],
    probabilities: NDArray[np.floating[Any]],
    names: list[str],
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Every metric of a multi-label evaluation: a label is predicted where it reaches its threshold.

    Args:
        label_matrix: true labels, 1 or 0, shape (n, labels).
        probabilities: sigmoid probabilities, shape (n, labels).
        names: label names, in column order.
        thresholds: per label; None: 0.5 each.

    Returns:
        F1, precision and recall (micro, macro, samples), subset accuracy (every label of a row
        right), Hamming loss (share of wrong row-label cells), and per label precision, recall,
        F1, support and threshold.
    """
    from sklearn.metrics import hamming_loss, precision_recall_fscore_support

    cut = np.asarray(thresholds if thresholds is not None else [0.5] * len(names), dtype=np.float64)
    y_true = (np.asarray(label_matrix) > 0.5).astype(np.int64)
    y_pred = (probabilities >= cut[None, :]).astype(np.int64)
    report: dict[str, Any] = {
        "samples": len(y_true),
        "subset_accuracy": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0,
        "hamming_loss": float(hamming_loss(y_true, y_pred)) if len(y_true) else 0.0,
    }
    for average in ("micro", "macro", "samples"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        report[f"f1_{average}"] = float(f1)
        report[f"precision_{average}"] = float(precision)
        report[f"recall_{average}"] = float(recall)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    report["per_label"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "threshold": float(cut[i]),
        }
        for i, name in enumerate(names)
    }
    report["labels"] = list(names)
    return report


def regression_report(
    values: NDArray[np.floating[Any]], predicted: NDArray[np.floating[Any]]
) -> dict[str, Any]:
    """RMSE, MAE, Pearson and Spearman correlation of predicted against true values, shape (n,) each.

    A correlation is 0 where either side is constant (it is undefined there).
    """
    from scipy.stats import pearsonr, spearmanr

    truth = np.asarray(values, dtype=np.float64).ravel()
    guess = np.asarray(predicted, dtype=np.float64).ravel()
    errors = guess - truth
    constant = len(truth) < 2 or np.ptp(truth) == 0 or np.ptp(guess) == 0
    return {
        "samples": len(truth),
        "rmse": float(np.sqrt(np.mean(errors**2))) if len(truth) else 0.0,
        "mae": float(np.mean(np.abs(errors))) if len(truth) else 0.0,
        "pearson": 0.0 if constant else float(pearsonr(truth, guess).statistic),
        "spearman": 0.0 if constant else float(spearmanr(truth, guess).statistic),
    }


def _multilabel_scores(
    truth: Any, scores: NDArray[np.floating[Any]], names: list[str], thresholds: Sequence[float] | None
) -> dict[str, Any]:
    return multilabel_report(truth, scores, names, thresholds)


def _classification_scores(
    truth: Any, scores: NDArray[np.floating[Any]], names: list[str], thresholds: Sequence[float] | None
) -> dict[str, Any]:
    return classification_report(truth, scores, names)


def _regression_scores(
    truth: Any, scores: NDArray[np.floating[Any]], names: list[str], thresholds: Sequence[float] | None
) -> dict[str, Any]:
    return regression_report(truth, scores[:, 0])


# The report of each task's scores (Task.scores) against its targets (Task.targets), from the
# label names and (multi-label) the thresholds: (truth, scores, names, thresholds) -> report.
REPORTS: dict[
    Task, Callable[[Any, NDArray[np.floating[Any]], list[str], Sequence[float] | None], dict[str, Any]]
] = {
    SINGLE_LABEL: _classification_scores,
    MULTI_LABEL: _multilabel_scores,
    REGRESSION: _regression_scores,
}


def task_report(
    task: Task,
    truth: Any,
    scores: NDArray[np.floating[Any]],
    names: list[str],
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The metrics of a task's scores against its targets (see REPORTS)."""
    return REPORTS[task](truth, scores, names, thresholds)


def evaluation_report(
    task: Task,
    labels: LabelSet,
    examples: Examples,
    scores: NDArray[np.float32],
    delimiter: str | None,
    thresholds: Sequence[float] | None = None,
    group_column: str | None = None,
) -> dict[str, Any]:
    """The metrics of a task's predictions (`Classifier.predict_proba`) against the examples' labels.

    With a group column (examples read with data.group_column), a report of exclusive classes
    (single-label) also holds every metric per group (`groups`, the weakest macro-F1 first).

    Raises:
        DataError: unknown labels, or (regression) labels that are not numbers.
    """
    truth = task.targets(examples, labels, delimiter)
    report = task_report(task, truth, scores, list(labels.names), thresholds)
    if task.exclusive and group_column is not None and "group" in examples.data.column_names:
        groups = examples.column("group").to_pylist()
        report["groups"] = group_reports(truth, scores, list(labels.names), groups)
        report["group_column"] = group_column
    return report
