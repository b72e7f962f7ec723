"""The label checks of multi-label and regression tables, which `checks.run.check_splits` runs for them.

Rows per label and labels per row; the targets' spread (Task.label_key compares label cells by meaning).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from textfit.checks.base import SHOWN, Check, imbalance_check
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.splits import Splits
from textfit.data.tables import counted
from textfit.data.tasks import MULTI_LABEL, cell_labels, number

__all__ = ["multi_label_checks", "target_check"]


# ---------------------------------------------------------------- multi-label


def _labels_per_row(examples: Examples, delimiter: str | None) -> tuple[float, int, int]:
    """The mean and largest number of labels of a row, and the rows without a label."""
    counts = examples.label_counts()
    sizes = {name: len(set(cell_labels(name, delimiter))) for name in counts}
    rows = sum(counts.values())
    mean = sum(sizes[name] * n for name, n in counts.items()) / max(rows, 1)
    none = sum(n for name, n in counts.items() if sizes[name] == 0)
    return mean, max(sizes.values(), default=0), none


def multi_label_checks(splits: Splits) -> list[Check]:
    """The labels check (rows per label, labels per row) and the imbalance check, on single labels."""
    delimiter = splits.label_delimiter
    counts = MULTI_LABEL.occurrences(splits.train, delimiter)
    validation = MULTI_LABEL.occurrences(splits.validation, delimiter)
    names = LabelSet.from_labels(counts).names
    mean, most, none = _labels_per_row(splits.train, delimiter)
    rows = len(splits.train)
    shown = ", ".join(f"{name} {counts[name]}" for name in names[:SHOWN])
    shown += ", ..." if len(names) > SHOWN else ""
    summary = f"{len(names)} labels, {mean:.2f} per row on average: {shown}"
    details = [
        f"{name}: {counts[name]} training rows ({counts[name] / max(rows, 1):.1%}), "
        f"{validation.get(name, 0)} validation"
        for name in names
    ]
    details.append(
        f"labels per training row: mean {mean:.2f}, at most {most}; "
        f"{counted(none, 'row has', 'rows have')} no label"
    )
    data = {
        "training": {name: counts[name] for name in names},
        "validation": validation,
        "labels_per_row": round(mean, 6),
        "most_labels_per_row": most,
        "rows_without_label": none,
    }
    missing = [name for name in names if name not in validation]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        labels = Check(
            "labels",
            "warn",
            f"{counted(len(missing), 'label has', 'labels have')} no validation rows: {listed}",
            details,
            data,
            hint="add validation rows with these labels: their validation scores cannot be measured",
        )
    else:
        labels = Check("labels", "pass", summary, details, data)
    return [labels, imbalance_check(counts, "label")]


# ---------------------------------------------------------------- regression


def _values(examples: Examples) -> NDArray[np.float64]:
    """The examples' targets as numbers (cells that are not numbers left out: their file fails elsewhere)."""
    by_code = np.asarray([number(name) for name in examples.label_names], dtype=np.float64)
    values = by_code[examples.codes]
    return values[~np.isnan(values)]


def _spread(values: NDArray[np.float64]) -> dict[str, float | int]:
    if not len(values):
        return {"count": 0}
    return {
        "count": len(values),
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
        "std": float(values.std()),
    }


def _shown(spread: dict[str, float | int]) -> str:
    if not spread["count"]:
        return "no values"
    return f"{spread['count']} values, " + ", ".join(
        f"{key} {spread[key]:.4g}" for key in ("min", "median", "mean", "max", "std")
    )


def target_check(splits: Splits) -> Check:
    """The distribution of the regression targets: count, min, median, mean, max, std per file."""
    spreads = {"training": _spread(_values(splits.train)), "validation": _spread(_values(splits.validation))}
    if splits.test is not None:
        spreads["test"] = _spread(_values(splits.test))
    details = [f"{role}: {_shown(spread)}" for role, spread in spreads.items()]
    training = spreads["training"]
    if training["count"] and training["std"] == 0:
        return Check(
            "target",
            "warn",
            f"every training target is {training['min']:.6g}: a regression model has nothing to learn",
            details,
            spreads,
            hint="check --label-column: it should hold the number to predict",
        )
    return Check("target", "pass", f"training targets: {_shown(training)}", details, spreads)
