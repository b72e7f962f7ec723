"""The groups check (data.group_column): rows per group, and the labels (or mean target) of each."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.checks.base import GROUPS_SHOWN, SHOWN, Check
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.tables import counted
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, cell_labels, number


def _group_name(value: str) -> str:
    return value or "(empty)"


def _class_groups(train: Examples, column: str) -> Check:
    """The groups check of single-label rows: rows per class in each group, and the classes it lacks."""
    label_names = train.label_names
    groups = pc.fill_null(train.column("group"), "")  # an empty cell is a group of its own (joins skip nulls)
    rows = pa.table({"group": groups, "label": pa.array(train.codes)})
    per_group = rows.group_by("group").aggregate([("label", "count"), ("label", "count_distinct")])
    per_group = per_group.sort_by([("label_count", "descending"), ("group", "ascending")])
    n_labels = len(np.unique(train.codes))
    lacking = per_group.filter(pc.less(per_group["label_count_distinct"], n_labels))
    listed = pa.concat_tables([per_group.slice(0, GROUPS_SHOWN), lacking.slice(0, SHOWN)])
    cells = rows.join(listed.select(["group"]), keys="group", join_type="left semi")
    counts: dict[str, dict[str, int]] = {}
    for cell in cells.group_by(["group", "label"]).aggregate([("label", "count")]).to_pylist():
        counts.setdefault(cell["group"], {})[label_names[cell["label"]]] = cell["label_count"]
    order = LabelSet.from_labels(label_names).names

    def missing(group: str) -> list[str]:
        return [name for name in order if name not in counts[group]]

    details = []
    for row in per_group.slice(0, GROUPS_SHOWN).to_pylist():
        group = row["group"]
        shown = ", ".join(f"{name} {counts[group][name]}" for name in order if name in counts[group])
        gaps = "".join(f", no {name!r}" for name in missing(group))
        details.append(f"{_group_name(group)}: {counted(row['label_count'], 'row', 'rows')} ({shown}){gaps}")
    if per_group.num_rows > GROUPS_SHOWN:
        details.append(f"and {per_group.num_rows - GROUPS_SHOWN} more groups")
    data = {
        "column": column,
        "groups": per_group.num_rows,
        "rows": {
            _group_name(row["group"]): row["label_count"]
            for row in per_group.slice(0, GROUPS_SHOWN).to_pylist()
        },
        "labels": {_group_name(group): labels for group, labels in counts.items()},
        "lacking_a_label": lacking.num_rows,
    }
    if lacking.num_rows:
        gaps = "; ".join(
            f"{_group_name(row['group'])!r} has no " + ", ".join(repr(name) for name in missing(row["group"]))
            for row in lacking.slice(0, SHOWN).to_pylist()
        )
        return Check(
            "groups",
            "warn",
            f"{counted(lacking.num_rows, 'group lacks', 'groups lack')} a label in training: {gaps}"
            + ("; ..." if lacking.num_rows > SHOWN else ""),
            details,
            data,
            hint=f"add rows of the missing labels to these {column!r} groups, or expect weak scores there",
        )
    top = ", ".join(
        f"{_group_name(row['group'])} {row['label_count']}" for row in per_group.slice(0, SHOWN).to_pylist()
    )
    more = ", ..." if per_group.num_rows > SHOWN else ""
    summary = (
        f"{counted(per_group.num_rows, 'group', 'groups')} in {column!r}, each with every label: {top}{more}"
    )
    return Check("groups", "pass", summary, details, data)


def _group_codes(train: Examples) -> tuple[NDArray[np.int64], list[str]]:
    """Each example's group as an index into the group names (an empty cell: the group '(empty)')."""
    groups = pc.fill_null(train.column("group"), "")
    encoded = pc.dictionary_encode(groups).combine_chunks()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = [name or "(empty)" for name in encoded.dictionary.to_pylist()]
    return codes, names


class _Cells(NamedTuple):
    """Rows per (group, label cell): the cells are few, however many rows share them."""

    groups: list[str]  # the group names ('(empty)' for an empty cell)
    per_cell: NDArray[np.int64]  # (groups, label cells)
    rows: NDArray[np.int64]  # (groups,)
    order: list[int]  # the groups, most rows first


def _cells(train: Examples) -> _Cells:
    codes, groups = _group_codes(train)
    n_cells = len(train.label_names)
    cells = train.codes.astype(np.int64)
    per_cell = np.bincount(codes * n_cells + cells, minlength=len(groups) * n_cells).reshape(
        len(groups), n_cells
    )
    rows = per_cell.sum(axis=1)
    return _Cells(groups, per_cell, rows, sorted(range(len(groups)), key=lambda g: (-rows[g], groups[g])))


class _Summary(NamedTuple):
    """What the groups checks of multi-label and regression rows start from."""

    cells: _Cells
    data: dict[str, object]
    more: list[str]  # 'and N more groups', where not all are shown
    top: str  # the largest groups, with their rows


def _summary(train: Examples, column: str) -> _Summary:
    cells = _cells(train)
    groups, rows, order = cells.groups, cells.rows, cells.order
    data: dict[str, object] = {
        "column": column,
        "groups": len(groups),
        "rows": {groups[g]: int(rows[g]) for g in order[:GROUPS_SHOWN]},
    }
    more = [f"and {len(groups) - GROUPS_SHOWN} more groups"] if len(groups) > GROUPS_SHOWN else []
    top = ", ".join(f"{groups[g]} {rows[g]}" for g in order[:SHOWN])
    top += ", ..." if len(groups) > SHOWN else ""
    return _Summary(cells, data, more, top)


def _single_label_groups(train: Examples, column: str, delimiter: str | None) -> Check:
    return _class_groups(train, column)


def _regression_groups(train: Examples, column: str, delimiter: str | None) -> Check:
    """The groups check of regression rows: rows and the mean target of each group."""
    cells, data, more, top = _summary(train, column)
    groups, rows, order = cells.groups, cells.rows, cells.order
    values = np.asarray([number(name) for name in train.label_names], dtype=np.float64)
    means = (cells.per_cell * np.nan_to_num(values)[None, :]).sum(axis=1) / np.maximum(rows, 1)
    data["mean_target"] = {groups[g]: float(means[g]) for g in order[:GROUPS_SHOWN]}
    details = [
        f"{groups[g]}: {counted(int(rows[g]), 'row', 'rows')}, mean target {means[g]:.4g}"
        for g in order[:GROUPS_SHOWN]
    ]
    summary = f"{counted(len(groups), 'group', 'groups')} in {column!r}: {top}"
    return Check("groups", "pass", summary, details + more, data)


def _multi_label_groups(train: Examples, column: str, delimiter: str | None) -> Check:
    """The groups check of multi-label rows: each label of the lists counted per group."""
    cells, data, more, top = _summary(train, column)
    groups, rows, order = cells.groups, cells.rows, cells.order
    names = LabelSet.from_labels(MULTI_LABEL.occurrences(train, delimiter)).names
    index = {name: i for i, name in enumerate(names)}
    by_cell = np.zeros((len(train.label_names), len(names)), dtype=np.int64)
    for code, cell in enumerate(train.label_names):
        for label in set(cell_labels(cell, delimiter)):
            by_cell[code, index[label]] = 1
    per_label = cells.per_cell @ by_cell  # (groups, labels): rows of the group with the label
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


# The groups check of each task: (training examples, group column name, label delimiter) -> Check.
GROUP_CHECKS: dict[Task, Callable[[Examples, str, str | None], Check]] = {
    SINGLE_LABEL: _single_label_groups,
    MULTI_LABEL: _multi_label_groups,
    REGRESSION: _regression_groups,
}


def groups_check(train: Examples, column: str, task: Task, delimiter: str | None) -> Check:
    """Rows per group, with the labels of each (single- and multi-label) or its mean target (regression)."""
    return GROUP_CHECKS[task](train, column, delimiter)
