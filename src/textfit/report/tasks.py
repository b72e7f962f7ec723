"""The report of a multi-label or a regression run: its figures and page sections.

`report.page.write_report` reads the run and writes the page; here is what differs from a single-label
report. Multi-label: per-label scores with their thresholds, the decisions per label (TP / FP / FN /
TN), label co-occurrence, the most confidently wrong rows. Regression: predicted against true values,
the residuals, the largest errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from textfit.report import markup
from textfit.report.figures import (
    confusion_heat_map,
    per_label_bars,
    prediction_scatter,
    residual_histogram,
    training_curves,
)

__all__ = ["multi_label_page", "regression_page"]

# The rows of each page's metrics table: (key in the metrics, name).
MULTI_LABEL_METRICS = [
    ("samples", "samples"),
    *(
        (f"{m}_{a}", f"{m} ({a})")
        for a in ("micro", "macro", "samples")
        for m in ("f1", "precision", "recall")
    ),
    ("subset_accuracy", "subset accuracy"),
    ("hamming_loss", "Hamming loss"),
]
REGRESSION_METRICS = [
    ("samples", "samples"),
    ("rmse", "RMSE"),
    ("mae", "MAE"),
    ("pearson", "Pearson r"),
    ("spearman", "Spearman rho"),
]
_NO_PREDICTIONS = (
    '<p class="note">No predictions for this split: no {what} '
    "(runs trained before reports lack them; train or evaluate again).</p>"
)


def _page(
    metric_rows: list[tuple[str, str]],
    intro: list[str],
    splits: dict[str, dict[str, Any]],
    log_history: list[dict[str, Any]] | None,
) -> tuple[dict[str, bytes | None], list[str]]:
    """The figures (the training curves) and the metrics table of a split (the first of `splits`)."""
    rows = [
        [label, *(m.get(key, "") for m in splits.values())]
        for key, label in metric_rows
        if any(key in m for m in splits.values())
    ]
    figures: dict[str, bytes | None] = {
        "curves": training_curves(log_history) if log_history is not None else None
    }
    return figures, [*intro, '<h2 id="metrics">Metrics</h2>', markup.table(["metric", *splits], rows)]


def _curves(figures: dict[str, bytes | None]) -> list[str]:
    return [
        '<h2 id="curves">Training curves</h2>',
        markup.figure(figures["curves"], "training curves", "loss and validation scores per training step")
        or markup.NO_CURVES,
    ]


def multi_label_page(
    intro: list[str],
    splits: dict[str, dict[str, Any]],
    table: pa.Table | None,
    log_history: list[dict[str, Any]] | None,
) -> tuple[dict[str, bytes | None], str]:
    """The figures and the page body of a multi-label split (the first of `splits`).

    Args:
        intro: the page's heading and facts (HTML, escaped).
        splits: the metrics of the split reported, then of the run's other splits (columns of the table).
        table: the split's predictions table (predictions.write_task_predictions); None when there is none.
        log_history: the Trainer's log, for the training curves.
    """
    split = next(iter(splits))
    figures, parts = _page(MULTI_LABEL_METRICS, intro, splits, log_history)
    parts += _multi_label(split, splits[split], table, figures)
    parts += _curves(figures)
    parts += ['<h2 id="wrong">Most confidently wrong rows</h2>', _wrong_rows(splits[split], table)]
    return figures, "\n".join(parts)


def regression_page(
    intro: list[str],
    splits: dict[str, dict[str, Any]],
    table: pa.Table | None,
    log_history: list[dict[str, Any]] | None,
) -> tuple[dict[str, bytes | None], str]:
    """The figures and the page body of a regression split (the first of `splits`; see multi_label_page)."""
    figures, parts = _page(REGRESSION_METRICS, intro, splits, log_history)
    parts += _regression(table, figures)
    parts += _curves(figures)
    parts += ['<h2 id="errors">Largest errors</h2>', _largest_errors(table)]
    return figures, "\n".join(parts)


def _texts(table: pa.Table, order: NDArray[np.intp]) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """The header and cells of the text columns of the rows at `order`, and their td classes."""
    pair = "text_pair" in table.column_names
    texts = table["text"].take(pa.array(order)).to_pylist()
    pairs = table["text_pair"].take(pa.array(order)).to_pylist() if pair else [None] * len(texts)
    cells = [
        [markup.cut_text(text)] + ([markup.cut_text(second)] if pair else [])
        for text, second in zip(texts, pairs, strict=True)
    ]
    header = ["text", *(["second text"] if pair else [])]
    return header, cells, {"text": "text", **({"second text": "text"} if pair else {})}


# ---------------------------------------------------------------- multi-label


def _decisions(
    metrics: dict[str, Any], table: pa.Table
) -> tuple[list[str], NDArray[np.bool_], NDArray[np.float32], NDArray[np.bool_]]:
    """Label names, true (n, labels), probabilities (n, labels) and predicted (n, labels) of a table."""
    names = list(metrics["labels"])
    thresholds = np.asarray([metrics["per_label"][name]["threshold"] for name in names], dtype=np.float32)
    n = table.num_rows
    true = (
        np.asarray(table["true"].combine_chunks().flatten().to_numpy(), dtype=np.int8).reshape(n, len(names))
        > 0
    )
    probabilities = np.asarray(
        table["probabilities"].combine_chunks().flatten().to_numpy(), dtype=np.float32
    ).reshape(n, len(names))
    return names, true, probabilities, probabilities >= thresholds[None, :]


def _multi_label(
    split: str, metrics: dict[str, Any], table: pa.Table | None, figures: dict[str, bytes | None]
) -> list[str]:
    per_label = metrics["per_label"]
    figures["per_label"] = per_label_bars(per_label)
    scores = [
        [name, *(row[k] for k in ("precision", "recall", "f1", "support", "threshold"))]
        for name, row in per_label.items()
    ]
    parts = [
        '<h2 id="per-label">Precision, recall and F1 per label</h2>',
        markup.figure(
            figures["per_label"],
            "per-label bars",
            f"{split}: scores per label (n: rows with the label; t: its threshold, tuned on validation)",
        ),
        markup.table(["label", "precision", "recall", "F1", "support", "threshold"], scores),
        '<h2 id="decisions">Decisions per label</h2>',
    ]
    if table is None or not table.num_rows:
        return [*parts, _NO_PREDICTIONS.format(what="decision counts, co-occurrence or examples")]
    names, true, _, predicted = _decisions(metrics, table)
    counts = [
        [
            name,
            int((true[:, i] & predicted[:, i]).sum()),
            int((~true[:, i] & predicted[:, i]).sum()),
            int((true[:, i] & ~predicted[:, i]).sum()),
            int((~true[:, i] & ~predicted[:, i]).sum()),
        ]
        for i, name in enumerate(names)
    ]
    together = true.T.astype(np.int64) @ true.astype(np.int64)  # (labels, labels): rows with both
    figures["cooccurrence"] = confusion_heat_map(
        together, names, normalized=False, axis_labels=("label", "label"), colorbar="rows with both labels"
    )
    return [
        *parts,
        '<p class="note">Each row decides each label: true positive (the label is true and predicted), '
        "false positive (predicted, not true), false negative (true, not predicted), true negative.</p>",
        markup.table(
            ["label", "true positives", "false positives", "false negatives", "true negatives"], counts
        ),
        '<h2 id="cooccurrence">Labels together</h2>',
        markup.figure(
            figures["cooccurrence"],
            "label co-occurrence",
            "true labels: rows with both labels (the diagonal: rows with the label)",
        ),
    ]


def _wrong_rows(metrics: dict[str, Any], table: pa.Table | None) -> str:
    """The rows whose labels were decided wrong with the highest confidence, most confident first."""
    if table is None or not table.num_rows:
        return _NO_PREDICTIONS.format(what="examples")
    names, true, probabilities, predicted = _decisions(metrics, table)
    wrong = true != predicted
    # The confidence of a wrong decision: the probability of a label wrongly given, 1 - that of one missed.
    confidence = np.where(wrong, np.where(predicted, probabilities, 1.0 - probabilities), -1.0)
    worst = confidence.max(axis=1)
    rows = np.flatnonzero(wrong.any(axis=1))
    if not len(rows):
        return '<p class="note">No wrong decisions: every label of every row is right.</p>'
    order = rows[np.argsort(-worst[rows], kind="stable")][: markup.WRONG_EXAMPLES]
    header, texts, classes = _texts(table, order)
    numbers = table["row"].to_numpy()

    def listed(i: int, mask: NDArray[np.bool_]) -> str:
        return ", ".join(names[j] for j in np.flatnonzero(mask[i])) or "(none)"

    cells = []
    for i, text in zip(order.tolist(), texts, strict=True):
        mistakes = sorted(np.flatnonzero(wrong[i]), key=lambda j: -confidence[i, j])
        shown = "; ".join(
            f"{names[j]} {probabilities[i, j]:.2f} ({'given, not true' if predicted[i, j] else 'missed'})"
            for j in mistakes
        )
        cells.append([int(numbers[i]), float(worst[i]), listed(i, true), listed(i, predicted), shown, *text])
    note = (
        f"<p>{len(rows):,} of {table.num_rows:,} rows have a label decided wrong; the {len(cells)} "
        "with the most confident wrong decision (a label given with probability p: p; a label missed: "
        "1 - p; row: the data row in its file):</p>"
    )
    head = ["row", "confidence", "true labels", "predicted labels", "wrong decisions (probability)", *header]
    return note + markup.table(head, cells, row="n", **classes)


# ---------------------------------------------------------------- regression


def _regression(table: pa.Table | None, figures: dict[str, bytes | None]) -> list[str]:
    parts = ['<h2 id="scatter">Predicted against true</h2>']
    if table is None or not table.num_rows:
        return [*parts, _NO_PREDICTIONS.format(what="scatter plot, residuals or examples")]
    value = table["value"].to_numpy()
    predicted = table["predicted"].to_numpy()
    residuals = predicted - value
    figures["scatter"] = prediction_scatter(value, predicted)
    figures["residuals"] = residual_histogram(residuals)
    return [
        *parts,
        markup.figure(
            figures["scatter"], "predicted against true values", "one point per row; dashed: no error"
        ),
        '<h2 id="residuals">Residuals</h2>',
        f"<p>Predicted minus true: mean <b>{residuals.mean():.4g}</b> (a bias when far from 0), "
        f"standard deviation <b>{residuals.std():.4g}</b>, largest <b>{np.abs(residuals).max():.4g}</b>.</p>",
        markup.figure(figures["residuals"], "residual histogram", "rows per error (predicted - true)"),
    ]


def _largest_errors(table: pa.Table | None) -> str:
    if table is None or not table.num_rows:
        return _NO_PREDICTIONS.format(what="examples")
    value = table["value"].to_numpy()
    predicted = table["predicted"].to_numpy()
    errors = predicted - value
    order = np.argsort(-np.abs(errors), kind="stable")[: markup.WRONG_EXAMPLES]
    header, texts, classes = _texts(table, order)
    numbers = table["row"].to_numpy()
    cells = [
        [int(numbers[i]), float(value[i]), float(predicted[i]), float(errors[i]), *text]
        for i, text in zip(order.tolist(), texts, strict=True)
    ]
    note = (
        f"<p>The {len(cells)} rows of {table.num_rows:,} with the largest errors "
        "(row: the data row in its file):</p>"
    )
    return note + markup.table(["row", "true", "predicted", "error", *header], cells, row="n", **classes)
