"""The figures of a run's report, drawn with matplotlib (Agg, without pyplot) and returned as PNG bytes.

matplotlib is imported inside the functions, so that `import textfit` stays fast.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.metrics import Calibration

TICK_LABELS = 40  # most class names on a heat map axis; more classes get every n-th name
ANNOTATED_CLASSES = 15  # heat maps of up to this many classes write the value in each cell


def _new_figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw: Any) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no global state, no GUI backend
    return figure, figure.subplots(rows, cols, squeeze=False, **kw)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _short(name: str, chars: int = 24) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


def per_class_bars(metrics: dict[str, Any]) -> bytes:
    """Horizontal precision / recall / F1 bars per class; the figure grows with the classes."""
    return _score_bars(metrics["per_class"], [_short(name) for name in metrics["per_class"]])


def per_label_bars(per_label: dict[str, dict[str, Any]]) -> bytes:
    """Precision / recall / F1 bars per label of a multi-label run, named with support and threshold."""
    ticks = [
        f"{_short(name)} (n={row['support']}, t={row['threshold']:.2f})" for name, row in per_label.items()
    ]
    return _score_bars(per_label, ticks)


def _score_bars(rows: dict[str, dict[str, Any]], ticks: list[str]) -> bytes:
    names = list(rows)
    figure, axes = _new_figure(9, min(max(2.5, 0.32 * len(names) + 1.2), 60))
    ax = axes[0][0]
    positions = np.arange(len(names))
    for offset, (key, color) in enumerate(
        (("precision", "#4c72b0"), ("recall", "#dd8452"), ("f1", "#55a868"))
    ):
        values = [rows[name][key] for name in names]
        ax.barh(positions + (offset - 1) * 0.27, values, height=0.27, color=color, label=key)
    ax.set_yticks(positions, ticks, fontsize=8 if len(names) > 30 else 10)
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first class on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=3, fontsize=8, frameon=False)
    return _png(figure)


def confusion_heat_map(
    matrix: NDArray[Any],
    names: list[str],
    normalized: bool,
    axis_labels: tuple[str, str] = ("predicted label", "true label"),
    colorbar: str | None = None,
) -> bytes:
    """The confusion matrix (rows: true, columns: predicted), counts or row shares, as a heat map.

    `axis_labels` (x, y) and `colorbar` name the axes of another square table (label co-occurrence).
    """
    size = min(max(5.0, 0.22 * len(names) + 3), 24)
    figure, axes = _new_figure(size + 1, size)
    ax = axes[0][0]
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalized else max(1, matrix.max()))
    colorbar = colorbar or ("share of the true class" if normalized else "examples")
    figure.colorbar(image, ax=ax, shrink=0.8, label=colorbar)
    step = math.ceil(len(names) / TICK_LABELS)
    ticks = list(range(0, len(names), step))
    ax.set_xticks(ticks, [_short(names[i]) for i in ticks], rotation=90)
    ax.set_yticks(ticks, [_short(names[i]) for i in ticks])
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if len(names) <= ANNOTATED_CLASSES:
        threshold = (1 if normalized else matrix.max()) / 2
        for (i, j), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalized else str(int(value))
            color = "white" if value > threshold else "#1f2328"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
    return _png(figure)


def training_curves(log_history: list[dict[str, Any]]) -> bytes | None:
    """Training / validation loss and validation scores per step (the Trainer's log_history).

    A series of up to 30 points is drawn with markers, so a single evaluation shows; None when
    the log has no loss and no validation metric.
    """

    def series(key: str) -> tuple[list[float], list[float]]:
        points = [(e["step"], e[key]) for e in log_history if key in e and "step" in e]
        return [p[0] for p in points], [p[1] for p in points]

    losses = {"training loss": series("loss"), "validation loss": series("eval_loss")}
    scores = {
        label: series(f"eval_{key}")
        for key, label in (
            ("accuracy", "accuracy"),
            ("f1_macro", "F1 (macro)"),
            ("f1_weighted", "F1 (weighted)"),
            ("f1_micro", "F1 (micro)"),  # multi-label
            ("subset_accuracy", "subset accuracy"),
            ("rmse", "RMSE"),  # regression
            ("mae", "MAE"),
            ("pearson", "Pearson r"),
        )
    }
    if not any(steps for steps, _ in [*losses.values(), *scores.values()]):
        return None
    figure, axes = _new_figure(11, 3.8, 1, 2)
    for ax, lines, ylabel in ((axes[0][0], losses, "loss"), (axes[0][1], scores, "validation score")):
        for label, (steps, values) in lines.items():
            if steps:
                ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, label=label)
        if any(steps for steps, _ in lines.values()):
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    return _png(figure)


def reliability_curve(curve: Calibration) -> bytes:
    """Accuracy against confidence per bin, with the ECE; below, the examples in each bin."""
    figure, axes = _new_figure(6, 6.5, 2, 1, height_ratios=[3, 1], sharex=True)
    top, bottom = axes[0][0], axes[1][0]
    width = curve.edges[1] - curve.edges[0]
    filled = curve.counts > 0
    top.plot([0, 1], [0, 1], "--", color="#888888", label="perfectly calibrated")
    left, accuracy = curve.edges[:-1][filled], curve.accuracy[filled]
    top.bar(
        left, accuracy, width=width, align="edge", color="#4c72b0", alpha=0.8, label="accuracy in the bin"
    )
    top.plot(curve.confidence[filled], curve.accuracy[filled], "o", color="#c44e52", label="mean confidence")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"ECE {curve.ece:.4f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(curve.edges[:-1], curve.counts, width=width, align="edge", color="#8c8c8c", edgecolor="white")
    for left, count in zip(curve.edges[:-1], curve.counts, strict=True):
        if count:
            bottom.text(left + width / 2, count, str(count), ha="center", va="bottom", fontsize=7)
    bottom.set_ylim(0, max(1, curve.counts.max(initial=0)) * 1.25)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence of the predicted label")
    bottom.set_ylabel("examples")
    return _png(figure)


def prediction_scatter(truth: NDArray[Any], predicted: NDArray[Any]) -> bytes:
    """Predicted against true values of a regression run, with the diagonal of perfect predictions."""
    figure, axes = _new_figure(6.5, 6)
    ax = axes[0][0]
    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    both = np.concatenate([truth, predicted])
    low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    margin = (high - low) * 0.05 or 0.5
    ax.plot(
        [low - margin, high + margin],
        [low - margin, high + margin],
        "--",
        color="#888888",
        label="predicted = true",
    )
    alpha = 0.8 if len(truth) <= 500 else 0.3
    size = 24 if len(truth) <= 500 else 8
    ax.scatter(truth, predicted, s=size, alpha=alpha, color="#4c72b0", edgecolors="none", label="examples")
    ax.set_xlim(low - margin, high + margin)
    ax.set_ylim(low - margin, high + margin)
    ax.set_aspect("equal")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _png(figure)


def residual_histogram(residuals: NDArray[Any]) -> bytes:
    """A histogram of the errors (predicted minus true) of a regression run, with a line at 0."""
    figure, axes = _new_figure(7, 3.8)
    ax = axes[0][0]
    residuals = np.asarray(residuals, dtype=np.float64)
    ax.hist(residuals, bins=min(40, max(5, len(residuals) // 5)), color="#4c72b0", edgecolor="white")
    ax.axvline(0, color="#c44e52", linestyle="--", label="no error")
    ax.set_xlabel("predicted - true")
    ax.set_ylabel("examples")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(figure)
