"""The label checks of multi-label and regression tables, which `checks.check_splits` runs for them.

Rows per label and labels per row; the targets' spread; label cells compared by meaning; groups.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.checks.core import GROUPS_SHOWN, SHOWN, Check, imbalance_check
from textfit.data.examples import Examples, LabelSet, Splits
from textfit.data.tables import counted
from textfit.data.tasks import cell_labels, label_occurrences, number

__all__ = ["groups_check", "label_key", "multi_label_checks", "target_check"]


def label_key(task: str, delimiter: str | None) -> Callable[[str], str]:
    """What makes two label cells the same: the set of labels of a list, the value of a number."""
    if task == "multi_label":
        return lambda name: json.dumps(sorted(set(cell_labels(name, delimiter))), ensure_ascii=False)
    if task == "regression":
        return lambda name: name if (value := number(name)) is None else f"{value!r}"
    return lambda name: name


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
    counts = label_occurrences("multi_label", splits.train, delimiter)
    validation = label_occurrences("multi_label", splits.validation, delimiter)
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


# ---------------------------------------------------------------- groups


def _group_codes(train: Examples) -> tuple[NDArray[np.int64], list[str]]:
    """Each example's group as an index into the group names (an empty cell: the group '(empty)')."""
    groups = pc.fill_null(train.column("group"), "")
    encoded = pc.dictionary_encode(groups).combine_chunks()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = [name or "(empty)" for name in encoded.dictionary.to_pylist()]
    return codes, names


def groups_check(train: Examples, column: str, task: str, delimiter: str | None) -> Check:
    """Rows per group, with the labels of each (multi-label) or its mean target (regression)."""
    codes, groups = _group_codes(train)
    cells = train.codes.astype(np.int64)
    n_cells = len(train.label_names)
    # Rows per (group, label cell): the cells are few, however many rows share them.
    per_cell = np.bincount(codes * n_cells + cells, minlength=len(groups) * n_cells).reshape(
        len(groups), n_cells
    )
    rows = per_cell.sum(axis=1)
    order = sorted(range(len(groups)), key=lambda g: (-rows[g], groups[g]))
    data: dict[str, object] = {
        "column": column,
        "groups": len(groups),
        "rows": {groups[g]: int(rows[g]) for g in order[:GROUPS_SHOWN]},
    }
    more = [f"and {len(groups) - GROUPS_SHOWN} more groups"] if len(groups) > GROUPS_SHOWN else []
    top = ", ".join(f"{groups[g]} {rows[g]}" for g in order[:SHOWN])
    top += ", ..." if len(groups) > SHOWN else ""
    if task == "regression":
        values = np.asarray([number(name) for name in train.label_names], dtype=np.float64)
        means = (per_cell * np.nan_to_num(values)[None, :]).sum(axis=1) / np.maximum(rows, 1)
        data["mean_target"] = {groups[g]: float(means[g]) for g in order[:GROUPS_SHOWN]}
        details = [
            f"{groups[g]}: {counted(int(rows[g]), 'row', 'rows')}, mean target {means[g]:.4g}"
            for g in order[:GROUPS_SHOWN]
        ]
        summary = f"{counted(len(groups), 'group', 'groups')} in {column!r}: {top}"
        return Check("groups", "pass", summary, details + more, data)
    names = LabelSet.from_labels(label_occurrences("multi_label", train, delimiter)).names
    index = {name: i for i, name in enumerate(names)}
    by_cell = np.zeros((n_cells, len(names)), dtype=np.int64)
    for code, cell in enumerate(train.label_names):
        for label in set(cell_labels(cell, delimiter)):
            by_cell[code, index[label]] = 1
    per_label = per_cell @ by_cell  # (groups, labels): rows of the group with the label
    details = []
    for g in order[:GROUPS_SHOWN]:
        shown = ", ".join(f"{name} {per_label[g, i]}" for i, name in enumerate(names) if per_label[g, i])
        gaps = "".join(f", no {name!r}" for i, name in enumerate(names) if not per_label[g, i])
        details.append(f"{groups[g]}: {counted(int(rows[g]), 'row', 'rows')} ({shown}){gaps}")
    data["labels"] = {
        groups[g]: {name: int(per_label[g, i]) for i, name in enumerate(names) if per_label[g, i]}
        for g in order[:GROUPS_SHOWN]
    }
    lacking = [g for g in order if (per_label[g] == 0).any()]
    data["lacking_a_label"] = len(lacking)
    if lacking:
        gaps = "; ".join(
            f"{groups[g]!r} has no " + ", ".join(repr(n) for i, n in enumerate(names) if not per_label[g, i])
            for g in lacking[:SHOWN]
        )
        return Check(
            "groups",
            "warn",
            f"{counted(len(lacking), 'group lacks', 'groups lack')} a label in training: {gaps}"
            + ("; ..." if len(lacking) > SHOWN else ""),
            details + more,
            data,
            hint=f"add rows of the missing labels to these {column!r} groups, or expect weak scores there",
        )
    summary = f"{counted(len(groups), 'group', 'groups')} in {column!r}, each with every label: {top}"
    return Check("groups", "pass", summary, details + more, data)
