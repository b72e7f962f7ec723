"""The checks of the rows: columns used, rows read, empty rows, repeats, overlap, conflicting labels, lengths.

Counted in Arrow and numpy: a million rows never become a million Python objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.checks.base import LENGTH_LIMIT, SHOWN, TRUNCATED_SHARE, Check, short_text, split_files
from textfit.data.examples import Examples
from textfit.data.splits import Splits
from textfit.data.tables import counted


def columns_check(splits: Splits, group_column: str | None) -> Check:
    """The columns read (text, text pair, label, group), and those not used."""
    columns = splits.columns
    summary = f"text {columns['text']!r}"
    if columns["text_pair"]:
        summary += f", text pair {columns['text_pair']!r}"
    summary += f", label {columns['label']!r}"
    if "group" in splits.train.data.column_names:
        summary += f", group {group_column!r}"
    table = splits.train.table
    used = {*columns.values(), group_column}
    unused = [name for name in table.names if name not in used] if table is not None else []
    details = [f"not used: {', '.join(repr(name) for name in unused)}"] if unused else []
    return Check("columns", "pass", summary, details, {**columns, "group": group_column, "unused": unused})


def rows_check(splits: Splits) -> Check:
    """Rows read, used and dropped per file, and the rows of each split."""
    details, figures = [], {}
    for role, examples in split_files(splits):
        used = examples.data.num_rows
        read = len(examples.table) if examples.table is not None else used + examples.dropped
        line = f"{examples.source.name}: {read} read, {used} used"
        line += f", {examples.dropped} dropped" if examples.dropped else ""
        if role == "training" and splits.validation.data is splits.train.data:
            line += f"; {len(splits.train)} for training, {len(splits.validation)} held out for validation"
        details.append(line)
        figures[role] = {
            "file": str(examples.source),
            "read": read,
            "used": used,
            "dropped": examples.dropped,
        }
    sizes = {"training": len(splits.train), "validation": len(splits.validation)}
    if splits.test is not None:
        sizes["test"] = len(splits.test)
    summary = ", ".join(f"{n} {role}" for role, n in sizes.items()) + " rows"
    return Check("rows", "pass", summary, details, {"files": figures, **sizes})


def empty_check(splits: Splits) -> Check:
    """Rows dropped for an empty text or label (with --drop-invalid), per file."""
    dropped = {
        examples.source.name: examples.dropped for _, examples in split_files(splits) if examples.dropped
    }
    total = sum(dropped.values())
    if not total:
        return Check("empty", "pass", "no empty texts or labels", data={"dropped": 0})
    return Check(
        "empty",
        "warn",
        f"{counted(total, 'row', 'rows')} with an empty text or label dropped (--drop-invalid)",
        [f"{name}: {n}" for name, n in dropped.items()],
        {"dropped": total, "files": dropped},
        hint="fill in or delete these rows; without --drop-invalid the error lists each of them",
    )


def _keys(examples: Examples) -> pa.Table:
    """The text (and second text) of each example: what makes two rows the same."""
    roles = [role for role in ("text", "text_pair") if role in examples.data.column_names]
    return pa.table({role: examples.column(role) for role in roles})


def _shown_key(row: dict[str, Any]) -> str:
    return short_text(row["text"]) + (f" / {short_text(row['text_pair'])}" if "text_pair" in row else "")


def distinct_keys(examples: Examples) -> pa.Table:
    """The distinct keys of the examples, with how many examples have each ("text_count")."""
    keys = _keys(examples)
    return keys.group_by(keys.column_names).aggregate([("text", "count")])


def duplicates_check(train: Examples, counts: pa.Table) -> Check:
    """Training rows that repeat an earlier row's text (`counts`: from distinct_keys)."""
    repeats = len(train) - counts.num_rows
    if not repeats:
        return Check("duplicates", "pass", "no repeated texts in the training data", data={"repeats": 0})
    top = counts.sort_by([("text_count", "descending")]).slice(0, SHOWN).to_pylist()
    return Check(
        "duplicates",
        "warn",
        f"{train.source}: {counted(repeats, 'training row repeats', 'training rows repeat')} "
        "an earlier row's text; repeats weigh more in training and can inflate validation scores",
        [f"{row['text_count']}x {_shown_key(row)}" for row in top if row["text_count"] > 1],
        {"repeats": repeats, "distinct": counts.num_rows},
        hint="deduplicate the training file, unless the repeats are meant to weigh more",
    )


def overlap_check(splits: Splits, train_counts: pa.Table) -> Check:
    """Validation and test texts that are also training texts."""
    train_keys = train_counts.drop_columns(["text_count"])
    found: dict[str, pa.Table] = {}
    for role, examples in (("validation", splits.validation), ("test", splits.test)):
        if examples is not None:
            keys = _keys(examples).group_by(train_keys.column_names).aggregate([])
            found[role] = keys.join(train_keys, keys=keys.column_names, join_type="left semi")
    counts = {role: table.num_rows for role, table in found.items()}
    overlapping = [role for role, n in counts.items() if n]
    if not overlapping:
        which = " or test" if "test" in counts else ""
        return Check(
            "overlap", "pass", f"no validation{which} text appears in the training data", data=counts
        )
    if len(overlapping) == 1:
        role, n = overlapping[0], counts[overlapping[0]]
        summary = (
            f"{counted(n, f'{role} text also appears', f'{role} texts also appear')} in the training data; "
            f"{role} scores will be optimistic (deduplicate, or split by group)"
        )
    else:
        summary = (
            f"{counted(counts['validation'], 'validation text', 'validation texts')} and "
            f"{counted(counts['test'], 'test text', 'test texts')} also appear in the training data; "
            "their scores will be optimistic (deduplicate, or split by group)"
        )
    details = [
        f"{role}: " + ", ".join(_shown_key(row) for row in found[role].slice(0, SHOWN).to_pylist())
        for role in overlapping
    ]
    hint = "remove these texts from the training file (or from the evaluation files)"
    return Check("overlap", "warn", summary, details, counts, hint=hint)


def conflicts_check(splits: Splits, key: Callable[[str], str] = str) -> Check:
    """The same text (and second text) with different labels, across all the labelled rows.

    `key` makes label cells comparable: two lists of the same labels, or two spellings of a number,
    are the same label.
    """
    # The parts by file: 0 training (all of it, where validation is a split of it), 1 validation, 2 test.
    if splits.validation.data is splits.train.data:  # a split: the whole file, without copying texts
        parts = [(0, replace(splits.train, selection=None))]
    else:
        parts = [(0, splits.train), (1, splits.validation)]
    parts += [(2, splits.test)] if splits.test is not None else []
    in_file = dict(parts)
    names = sorted({key(name) for _, part in parts for name in part.label_names})
    code_of = {name: code for code, name in enumerate(names)}
    tables = []
    for file, part in parts:
        remap = np.asarray([code_of[key(name)] for name in part.label_names], dtype=np.int32)
        keys = _keys(part)
        # Where each row is: its file in the high bits, its row in the file below (so min is first).
        where = np.asarray(part.column("row").to_numpy(), dtype=np.int64) + (file << 40)
        tables.append(
            keys.append_column("label", pa.array(remap[part.codes])).append_column("at", pa.array(where))
        )
    rows = pa.concat_tables(tables)
    roles = [role for role in ("text", "text_pair") if role in rows.column_names]
    by_label = rows.group_by([*roles, "label"]).aggregate([("at", "min"), ("at", "count")])
    per_key = by_label.group_by(roles).aggregate([("label", "count"), ("at_min", "min")])
    conflicting = per_key.filter(pc.greater(per_key["label_count"], 1))
    if not conflicting.num_rows:
        return Check("conflicts", "pass", "no text appears with different labels", data={"texts": 0})
    involved = by_label.join(conflicting.select(roles), keys=roles, join_type="left semi")
    n_rows = pc.sum(involved["at_count"]).as_py()
    first = conflicting.sort_by([("at_min_min", "ascending")]).slice(0, SHOWN).select(roles)
    shown = by_label.join(first, keys=roles, join_type="left semi").sort_by([("at_min", "ascending")])
    examples: dict[str, list[str]] = {}
    for row in shown.to_pylist():
        part = in_file[row["at_min"] >> 40]
        at = row["at_min"] & ((1 << 40) - 1)
        place = f"{part.source.name} " + (part.table.where(at) if part.table is not None else f"row {at + 1}")
        more = f" and {row['at_count'] - 1} more" if row["at_count"] > 1 else ""
        examples.setdefault(_shown_key(row), []).append(f"{names[row['label']]!r} at {place}{more}")
    return Check(
        "conflicts",
        "warn",
        f"{counted(conflicting.num_rows, 'text appears', 'texts appear')} with different labels "
        f"({n_rows} rows); the model cannot fit both",
        [f"{key}: {', '.join(places)}" for key, places in examples.items()],
        {"texts": conflicting.num_rows, "rows": n_rows},
        hint="give each text one label (fix or delete the wrong rows)",
    )


def length_check(lengths: NDArray[np.int64], max_length: int, cut: bool) -> Check:
    """The token lengths of the training texts, and the share cut at max_length (`cut`: counted up to it)."""
    over = int(np.count_nonzero(lengths >= max_length if cut else lengths > max_length))
    share = over / max(len(lengths), 1)
    longest = int(lengths.max()) if len(lengths) else 0
    median, p95 = (float(np.percentile(lengths, q)) for q in (50, 95)) if len(lengths) else (0.0, 0.0)
    counted_up_to = max_length if cut else LENGTH_LIMIT

    def shown(figure: float) -> str:  # a count that reached the cap: the text may be longer
        return f"at least {counted_up_to:,}" if figure >= counted_up_to else f"{figure:,.0f}"

    figures = f"median {shown(median)}, 95th percentile {shown(p95)}, longest {shown(longest)} tokens"
    data = {
        "median": median,
        "p95": p95,
        "max": longest,
        "max_length": max_length,
        "over_max_length": over,
        "share_over": round(share, 6),
        "counted_up_to": counted_up_to,
    }
    if share > TRUNCATED_SHARE:
        return Check(
            "length",
            "warn",
            f"{share:.1%} of training texts are longer than {max_length} tokens and will be cut",
            [figures],
            data,
            hint="a larger --max-length keeps more of each text (training gets slower)",
        )
    over_text = "none" if not over else f"{over} ({'<0.1%' if share < 0.001 else f'{share:.1%}'})"
    return Check("length", "pass", f"{figures}; {over_text} longer than {max_length}", data=data)
