"""Validate the rows of a table into Examples: texts that are text, no empty text or label, groups.

Rows are validated with Arrow compute, so a million rows never become a million Python objects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.examples import Columns, Examples, find_columns, find_group_column
from textfit.data.labels import LabelReading, label_codes
from textfit.data.reading import read_table
from textfit.data.tables import Table, counted
from textfit.errors import DataError, list_problems

logger = logging.getLogger(__name__)

# The characters str.strip() removes (str.isspace), as an RE2 class: a text that holds any other
# character is not empty. tests/test_data.py checks the list against this Python's str.isspace.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT_WHITESPACE = "[^" + "".join(f"\\x{{{ord(char):x}}}" for char in PYTHON_WHITESPACE) + "]"
_ROLES = ("text", "text_pair", "label")


class EmptyRowsError(DataError):
    """Rows with an empty text or label (without drop_invalid), or no usable row left."""


_TEXT_HINT = "pass --{}-column with the column that holds the texts, or store them as strings"


def _group_column(table: Table, name: str) -> pa.ChunkedArray:
    """A group column as strings: names as they are, numbers and dates as their text.

    Raises:
        DataError: the column holds values that have no text form (lists, structs).
    """
    values = table.values(name)
    if not isinstance(values, pa.ChunkedArray):  # JSON Lines: Python values
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in values], pa.string())])
    try:
        return values.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(
            f"{table.path}: column {name!r} holds {values.type} values, which cannot name groups",
            hint="pass a --group-column of names or numbers (a language, a source)",
        ) from None


def text_column(table: Table, name: str, role: str = "text") -> pa.ChunkedArray:
    """A column of texts as Arrow strings, null where a cell is missing.

    Raises:
        DataError: the column holds other values (numbers, lists, bytes): naming its type, or for
            a JSON Lines column of mixed values the rows that hold no string.
    """
    values = table.values(name)
    if isinstance(values, pa.ChunkedArray):
        kind = (
            values.type.value_type if pa.types.is_dictionary(values.type) else values.type
        )  # pandas categories
        if pa.types.is_string(values.type):
            return values
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            try:
                return values.cast(pa.string())
            except pa.ArrowInvalid:  # over 2 GiB in one chunk
                values = values.to_pylist()
        elif pa.types.is_null(kind):  # no value at all: every row is reported as empty
            return pa.chunked_array([pa.nulls(len(values), pa.string())])
        else:
            raise DataError(
                f"{table.path}: column {name!r} holds {kind} values, not texts",
                hint=_TEXT_HINT.format(role.replace("_", "-")),
            )
    bad = [i for i, value in enumerate(values) if value is not None and not isinstance(value, str)]
    if bad:
        found = [f"{table.where(i)} has {values[i]!r}" for i in bad]
        raise DataError(
            f"{table.path}: {counted(len(bad), 'row has', 'rows have')} a value that is not text "
            f"in column {name!r}: {list_problems(found)}",
            hint=_TEXT_HINT.format(role.replace("_", "-")) + " (in JSON: in quotes)",
        )
    return pa.chunked_array([pa.array(values, pa.string())])


def _filled(texts: pa.ChunkedArray) -> NDArray[np.bool_]:
    """Which texts hold something besides whitespace (what str.strip() removes)."""
    found = pc.match_substring_regex(texts, _NOT_WHITESPACE)
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def table_examples(
    table: Table,
    columns: Columns,
    drop_invalid: bool,
    need_labels: bool = True,
    group_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
) -> Examples:
    """Validate the rows of a table into Examples.

    Rows with an empty text (or label, when `need_labels`) fail with every such row named, or, with
    `drop_invalid`, are dropped and counted. With `group_column`, its values (as text, null where
    empty) come along as the "group" column; an empty group is no reason to drop a row. Label names
    in `label_map` (data.label_map) are renamed as they are read; the examples count the rows
    renamed, and those whose label lost surrounding spaces.

    Raises:
        EmptyRowsError: rows with an empty field (without `drop_invalid`), or no usable row left.
        DataError: a text or group column of values that are not texts.
    """
    texts = {"text": text_column(table, columns["text"])}
    if columns["text_pair"]:
        texts["text_pair"] = text_column(table, columns["text_pair"], "text_pair")
    filled = {role: _filled(values) for role, values in texts.items()}
    if need_labels and columns["label"]:
        reading = label_codes(table, columns["label"], label_map or {})
        filled["label"] = reading.codes >= 0
    else:
        reading = LabelReading(np.zeros(len(table), np.int32), [""], {}, {})
    codes, names = reading.codes, reading.names
    usable = np.logical_and.reduce(list(filled.values()))
    kept = np.flatnonzero(usable)
    dropped = len(table) - len(kept)
    if dropped and not drop_invalid:
        raise _empty_rows_error(table, columns, filled)
    if dropped:
        logger.warning(
            "%s: dropped %s with an empty text or label", table.path, counted(dropped, "row", "rows")
        )
    if not len(kept):
        raise EmptyRowsError(f"{table.path}: no usable rows left", hint="every row had an empty field")
    keep = pa.array(usable)
    data = {role: values if not dropped else values.filter(keep) for role, values in texts.items()}
    if group_column is not None:
        groups = _group_column(table, group_column)
        data["group"] = groups if not dropped else groups.filter(keep)
    data["row"] = pa.chunked_array([pa.array(kept, pa.int64())])
    used, kept_codes = np.unique(codes[kept], return_inverse=True)  # only the labels of kept rows
    label_names = tuple(names[code] for code in used.tolist())
    arrow, codes_kept = pa.table(data), kept_codes.astype(np.int32)
    return Examples(
        table.path, arrow, codes_kept, label_names, None, dropped, table, reading.stripped, reading.mapped
    )


def _empty_rows_error(table: Table, columns: Columns, filled: dict[str, NDArray[np.bool_]]) -> EmptyRowsError:
    """The error naming every row with an empty text or label, by column (the first row's column first)."""
    bad = {role: np.flatnonzero(~ok) for role, ok in filled.items() if not ok.all()}
    problems = "; ".join(
        f"{counted(len(rows), 'row has', 'rows have')} an empty {role.replace('_', ' ')} "
        f"in column {columns[role]!r}: "  # type: ignore[literal-required]
        f"{list_problems([table.where(int(row)) for row in rows])}"
        for role, rows in sorted(bad.items(), key=lambda item: (item[1][0], _ROLES.index(item[0])))
    )
    return EmptyRowsError(
        f"{table.path}: {problems}",
        hint="fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)",
    )


def read_examples(path: Path | Table, cfg: DataConfig, need_labels: bool = True) -> Examples:
    """Read a table (or take one already read) and return its validated examples.

    See `read_table`, `table_examples`. The group column (cfg.group_column) comes along where the
    table has it; cfg.label_map renames labels.
    """
    table = path if isinstance(path, Table) else read_table(path, cfg.format, cfg.encoding, cfg.delimiter)
    columns = find_columns(table, cfg, need_labels)
    group = find_group_column(table, cfg, required=False)
    return table_examples(table, columns, cfg.drop_invalid, need_labels, group, cfg.label_map)
