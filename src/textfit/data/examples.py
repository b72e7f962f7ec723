"""Find the columns of a table, validate its rows, map labels and make the splits.

Rows are validated with Arrow compute, so a million rows never become a million Python objects;
`Examples` keep the texts in Arrow and build Python lists only when asked.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.tables import Table, counted, read_table, table_format
from textfit.errors import DataError, list_problems

__all__ = [
    "LABEL_COLUMNS",
    "PAIR_COLUMNS",
    "TEXT_COLUMNS",
    "Columns",
    "EmptyRowsError",
    "Examples",
    "LabelSet",
    "Splits",
    "Table",
    "check_classes",
    "check_label_map",
    "find_columns",
    "find_group_column",
    "is_number_label",
    "label_map_flag",
    "label_name",
    "load_splits",
    "read_examples",
    "read_table",
    "spelling_key",
    "stratified_split",
    "table_examples",
    "table_format",
    "text_column",
    "with_pair_columns",
    "with_trained_columns",
]

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "sentence", "review", "message", "content")
LABEL_COLUMNS = ("label", "labels", "category", "class", "target", "sentiment")
# Sentence-pair columns of common data sets (GLUE, SNLI, QQP, ...), in files and data sets alike:
# read as a text pair when the table has no "text" column (see with_pair_columns).
PAIR_COLUMNS = (
    ("sentence1", "sentence2"),
    ("question", "sentence"),
    ("premise", "hypothesis"),
    ("question1", "question2"),
)
# The characters str.strip() removes (str.isspace), as an RE2 class: a text that holds any other
# character is not empty. tests/test_data.py checks the list against this Python's str.isspace.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT_WHITESPACE = "[^" + "".join(f"\\x{{{ord(char):x}}}" for char in PYTHON_WHITESPACE) + "]"
_ROLES = ("text", "text_pair", "label")


@dataclass(eq=False)
class Examples:
    """The usable rows of one table: texts, optional second texts, and label names.

    The validated rows of a file stay in Arrow (`data`, with a label code per row); an Examples is
    all of them or a selection (`selection`), so splitting a million rows copies no text. `texts`,
    `labels` and `text_pairs` build Python lists on each use; `column` gives Arrow.
    """

    source: Path
    # "text", optional "text_pair" and "group", "row" (each row's 0-based row in the source table)
    data: pa.Table
    label_codes: NDArray[np.int32]  # per row of data: its label, as an index into label_names
    label_names: tuple[str, ...]
    selection: NDArray[np.int64] | None = None  # these examples' rows of data, in order; None: all
    dropped: int = 0
    table: Table | None = None  # the source table (for line numbers)
    # Rows of the whole source table per label cell that reading changed: surrounding spaces
    # removed ("spam " -> rows), and data.label_map applied (the name before the map -> rows).
    stripped: dict[str, int] = field(default_factory=dict)
    mapped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.data.num_rows if self.selection is None else len(self.selection)

    def column(self, role: str) -> pa.ChunkedArray:
        """The "text", "text_pair", "group" or "row" column of these examples, in Arrow."""
        values = self.data.column(role)
        return values if self.selection is None else values.take(pa.array(self.selection))

    @property
    def codes(self) -> NDArray[np.int32]:
        """The label code of each example (an index into label_names)."""
        return self.label_codes if self.selection is None else self.label_codes[self.selection]

    @property
    def texts(self) -> list[str]:
        """The texts, as a Python list."""
        return self.column("text").to_pylist()  # type: ignore[no-any-return]

    @property
    def text_pairs(self) -> list[str] | None:
        """The second texts, as a Python list; None without a text-pair column."""
        if "text_pair" not in self.data.column_names:
            return None
        return self.column("text_pair").to_pylist()  # type: ignore[no-any-return]

    @property
    def labels(self) -> list[str]:
        """The label names, as a Python list."""
        names = self.label_names
        return [names[code] for code in self.codes.tolist()]

    @property
    def rows(self) -> list[int]:
        """The 0-based row of each example in its source table."""
        return self.column("row").to_pylist()  # type: ignore[no-any-return]

    @property
    def line_numbers(self) -> list[int] | None:
        """The physical line of each source table row (None for formats without lines)."""
        return None if self.table is None else self.table.line_numbers

    def where(self, index: int) -> str:
        """Where example `index` is in its file: 'row 17 (line 18)'."""
        position = index if self.selection is None else int(self.selection[index])
        row = self.data.column("row")[position].as_py()
        return self.table.where(row) if self.table is not None else f"row {row + 1}"

    def subset(self, indices: Sequence[int] | NDArray[np.int64]) -> Examples:
        """The examples at `indices`, in that order."""
        positions = np.asarray(indices, dtype=np.int64)
        selection = positions if self.selection is None else self.selection[positions]
        return replace(self, selection=selection, dropped=0)

    def label_counts(self) -> dict[str, int]:
        """How many examples each label has (labels without examples left out)."""
        counts = np.bincount(self.codes, minlength=len(self.label_names))
        return {name: int(n) for name, n in zip(self.label_names, counts, strict=True) if n}


@dataclass
class Splits:
    """Training, validation and (optional) test examples; `textfit.checks.core` looks them over."""

    train: Examples
    validation: Examples
    columns: Columns
    test: Examples | None = None
    task: str = "single_label"  # see textfit.data.tasks
    label_delimiter: str | None = None  # joins the labels of a multi-label cell
    dataset_splits: dict[str, str] | None = None  # with data.dataset: the split read for each role


# ---------------------------------------------------------------- columns and rows


def _pick_column(table: Table, given: str | None, candidates: Iterable[str], role: str) -> str:
    found = ", ".join(repr(name) for name in table.names)
    if given is not None:
        if given not in table.names:
            raise DataError(
                f"{table.path} has no column {given!r}. Columns found: {found}",
                hint=f"pass --{role}-column with one of the columns found",
            )
        return given
    by_lower = {name.lower(): name for name in table.names}
    for candidate in candidates:
        if candidate in by_lower:
            return by_lower[candidate]
    hint = f"pass --{role}-column NAME"
    delimiters = [d for d in (";", "\t", "|", ",") if len(table.names) == 1 and d in table.names[0]]
    if delimiters:  # one column whose name holds a delimiter: the file was split at the wrong one
        hint = f"the header holds {delimiters[0]!r}: pass --delimiter {delimiters[0]!r}"
    raise DataError(
        f"{table.path}: no {role} column found among the usual names "
        f"({', '.join(candidates)}). Columns found: {found}",
        hint=hint,
    )


class Columns(TypedDict):
    """The columns a table is read by: the text, the optional second text, and the label."""

    text: str
    text_pair: str | None
    label: str | None


def find_columns(table: Table, cfg: DataConfig, need_label: bool = True) -> Columns:
    """The text, pair and label columns: those given in cfg, or found from common names.

    Without `need_label` (prediction) no label column is looked for.
    """
    text = _pick_column(table, cfg.text_column, TEXT_COLUMNS, "text")
    label: str | None = None
    if need_label:
        label = _pick_column(table, cfg.label_column, LABEL_COLUMNS, "label")
    pair = None
    if cfg.text_pair_column is not None:
        pair = _pick_column(table, cfg.text_pair_column, (), "text-pair")
    if label == text:
        raise DataError(
            f"{table.path}: the text and label columns are both {text!r}",
            hint="pass --text-column and --label-column naming two different columns",
        )
    return Columns(text=text, text_pair=pair, label=label)


def with_pair_columns(cfg: DataConfig, table: Table) -> DataConfig:
    """cfg, with a known sentence pair (sentence1 / sentence2, ...) as the text columns when unambiguous.

    Only where cfg names no pair column, the table has no "text" column, and exactly one pair of
    PAIR_COLUMNS (whose first column is cfg's text column, when one is given) is in the table.
    Files and data sets (textfit.data.hub) alike.
    """
    if cfg.text_pair_column is not None or "text" in {column.lower() for column in table.names}:
        return cfg
    pairs = [
        pair
        for pair in PAIR_COLUMNS
        if all(column in table.names for column in pair) and cfg.text_column in (None, pair[0])
    ]
    if len(pairs) != 1:
        return cfg
    first, second = pairs[0]
    logger.info(
        "columns %r / %r read as a text pair (--text-column and --text-pair-column choose others)",
        first,
        second,
    )
    return cfg.model_copy(update={"text_column": first, "text_pair_column": second})


def find_group_column(table: Table, cfg: DataConfig, required: bool) -> str | None:
    """cfg.group_column when set and (unless `required`) the table has it; else None.

    Raises:
        DataError: `required`, and the table has no such column.
    """
    name = cfg.group_column
    if name is None or (not required and name not in table.names):
        return None
    return _pick_column(table, name, (), "group")


def with_trained_columns(cfg: DataConfig, table: Table, trained: dict[str, Any]) -> DataConfig:
    """cfg, with the columns a model was trained on where cfg names none and the table has them.

    Args:
        cfg: how the user asked to read the table.
        table: the table to predict or evaluate.
        trained: the model's {"text_column", "text_pair_column", "label_column"} names.

    Raises:
        DataError: the model takes sentence pairs and the table lacks the second text column.
    """
    filled = {
        key: trained[key]
        for key in ("text_column", "label_column", "text_pair_column")
        if getattr(cfg, key) is None and trained.get(key) in table.names
    }
    pair = trained.get("text_pair_column")
    if pair and cfg.text_pair_column is None and "text_pair_column" not in filled:
        found = ", ".join(repr(name) for name in table.names)
        raise DataError(
            f"{table.path}: the model was trained on sentence pairs (second text in column "
            f"{pair!r}), and this table has no column {pair!r}. Columns found: {found}",
            hint="pass --text-pair-column with the column that holds the second texts",
        )
    return cfg.model_copy(update=filled)


def label_name(value: Any) -> str | None:
    """A label value as its name: strings stripped, whole floats as integers; None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):  # a multi-label cell (JSON Lines, Parquet): JSON, parsed by tasks.py
        return json.dumps([label_name(item) for item in value], ensure_ascii=False)
    name = str(value).strip()
    return name or None


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


def _distinct(values: pa.ChunkedArray) -> tuple[pa.Array, pa.ChunkedArray] | None:
    """The distinct values, and each value's position among them; None for types Arrow cannot hash."""
    try:
        distinct = pc.unique(values)
        return distinct, pc.index_in(values, value_set=distinct)
    except pa.ArrowNotImplementedError:
        return None


class EmptyRowsError(DataError):
    """Rows with an empty text or label (without drop_invalid), or no usable row left."""


@dataclass
class _LabelReading:
    """What reading a label column did: each row's code into the names, and the cells it changed."""

    codes: NDArray[np.int32]  # -1 where missing
    names: list[str]
    stripped: dict[str, int]  # a cell with surrounding spaces -> its rows
    mapped: dict[str, int]  # a name data.label_map renames -> its rows


def _label_codes(table: Table, name: str, label_map: Mapping[str, str]) -> _LabelReading:
    """Each row's label as a code into the label names (-1 where missing), the names, and what changed.

    label_name (then label_map) runs on each distinct value only, so a million rows of a few labels
    cost little.
    """
    values = table.values(name)
    if isinstance(values, pa.ChunkedArray) and pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)  # pandas categories: compare their values
    found = _distinct(values) if isinstance(values, pa.ChunkedArray) else None
    stripped: Counter[str] = Counter()
    if found is None:  # nested values, or mixed ones the Python reader kept: named row by row
        python_values = values if isinstance(values, list) else values.to_pylist()
        stripped.update(v for v in python_values if isinstance(v, str) and v.strip() and v != v.strip())
        names = pa.chunked_array([pa.array([label_name(value) for value in python_values], pa.string())])
        found = pc.unique(names), pc.index_in(names, value_set=pc.unique(names))
    distinct, positions = found
    positions = positions.fill_null(-1).to_numpy(zero_copy_only=False)
    rows = np.bincount(positions[positions >= 0], minlength=len(distinct))
    codes_by_name: dict[str, int] = {}
    mapped: Counter[str] = Counter()
    remap = []
    for value, n in zip(distinct.to_pylist(), rows.tolist(), strict=True):
        label = label_name(value)
        if label is not None and isinstance(value, str) and value != label:
            stripped[value] += n
        if label is not None and label in label_map:
            mapped[label] += n
            label = label_map[label]
        remap.append(-1 if label is None else codes_by_name.setdefault(label, len(codes_by_name)))
    remap.append(-1)  # for position -1: a value not found (a NaN)
    codes = np.asarray(remap, dtype=np.int32)[positions]
    return _LabelReading(codes, list(codes_by_name), dict(stripped), dict(mapped))


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
    stripped: dict[str, int] = {}
    mapped: dict[str, int] = {}
    if need_labels and columns["label"]:
        reading = _label_codes(table, columns["label"], label_map or {})
        codes, names, stripped, mapped = reading.codes, reading.names, reading.stripped, reading.mapped
        filled["label"] = codes >= 0
    else:
        codes, names = np.zeros(len(table), np.int32), [""]
    usable = np.logical_and.reduce(list(filled.values()))
    kept = np.flatnonzero(usable)
    dropped = len(table) - len(kept)
    if dropped and not drop_invalid:
        bad = {role: np.flatnonzero(~ok) for role, ok in filled.items() if not ok.all()}
        problems = "; ".join(
            f"{counted(len(rows), 'row has', 'rows have')} an empty {role.replace('_', ' ')} "
            f"in column {columns[role]!r}: "  # type: ignore[literal-required]
            f"{list_problems([table.where(int(row)) for row in rows])}"
            for role, rows in sorted(bad.items(), key=lambda item: (item[1][0], _ROLES.index(item[0])))
        )
        raise EmptyRowsError(
            f"{table.path}: {problems}",
            hint="fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)",
        )
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
    return Examples(
        table.path,
        pa.table(data),
        kept_codes.astype(np.int32),
        label_names,
        None,
        dropped,
        table,
        stripped,
        mapped,
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


# ---------------------------------------------------------------- labels


def is_number_label(name: str) -> bool:
    """Whether a label name reads as a number ('1', '-0.5'): such labels sort numerically."""
    return _label_sort_key(name)[0] == 0


def _label_sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def spelling_key(name: str) -> str:
    """What two spellings of one label share: 'Spam' and 'spam', 'not  spam' and 'not spam', '1' and '1.0'."""
    try:
        value = float(name)
    except ValueError:
        return " ".join(name.casefold().split())
    return repr(value) if math.isfinite(value) else name.casefold()


def label_map_flag(renames: Mapping[str, str]) -> str:
    """The --label-map flag that renames these labels; the data.label_map setting where a name has , or =."""
    if any("," in name or "=" in name for pair in renames.items() for name in pair):
        return f"data.label_map: {json.dumps(dict(renames), ensure_ascii=False)} in a --config file"
    return "--label-map " + shlex.quote(",".join(f"{old}={new}" for old, new in renames.items()))


def check_label_map(label_map: Mapping[str, str], read: Iterable[Examples | None]) -> None:
    """Fail when data.label_map names a label that no row of the tables read has (a misspelt name).

    Raises:
        DataError: naming the unused names and the labels found.
    """
    files = [examples for examples in read if examples is not None]
    used = {name for examples in files for name in examples.mapped}
    unused = [name for name in label_map if name not in used]
    if not unused:
        return
    found = sorted({name for examples in files for name in examples.label_names} | used, key=_label_sort_key)
    sources = ", ".join(dict.fromkeys(str(examples.source) for examples in files))
    raise DataError(
        f"--label-map (data.label_map) renames {counted(len(unused), 'label', 'labels')} that no row "
        f"of {sources} has: {', '.join(repr(name) for name in unused)}.\n  Labels found: "
        f"{list_problems([repr(name) for name in found])}",
        hint="fix the spelling of these names (labels are compared after surrounding spaces are "
        "removed), or leave them out",
    )


@dataclass(frozen=True)
class LabelSet:
    """The label names in a stable order (numbers numerically, then strings), and their ids."""

    names: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelSet:
        """All distinct names in `labels`, sorted."""
        return cls(tuple(sorted(set(labels), key=_label_sort_key)))

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> id (the Hugging Face config name)."""
        return {name: index for index, name in enumerate(self.names)}

    @property
    def id2label(self) -> dict[int, str]:
        """Id -> label name (the Hugging Face config name)."""
        return dict(enumerate(self.names))

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, examples: Examples) -> list[int]:
        """Label ids of the examples; fails naming the rows whose label the model does not know."""
        label2id = self.label2id
        id_of_code = np.asarray([label2id.get(name, -1) for name in examples.label_names], dtype=np.int64)
        codes = examples.codes
        ids = id_of_code[codes]
        unknown_rows = np.flatnonzero(ids < 0)
        unknown = [
            f"{examples.where(int(i))} has label {examples.label_names[codes[i]]!r}" for i in unknown_rows
        ]
        if unknown:
            known = ", ".join(repr(name) for name in self.names)
            by_key = {spelling_key(name): name for name in self.names}
            unknown_names = [examples.label_names[code] for code in np.unique(codes[unknown_rows]).tolist()]
            renames = {name: by_key[key] for name in unknown_names if (key := spelling_key(name)) in by_key}
            hint = "fix those labels, or retrain with them in the training file"
            if renames:  # 'Spam' where the model knows 'spam'
                read_as = ", ".join(f"{old!r} as {new!r}" for old, new in renames.items())
                hint = (
                    f"{label_map_flag(renames)} reads {read_as} (labels that differ only in case, spacing "
                    f"or number format); or {hint}"
                )
            raise DataError(
                f"{examples.source}: {counted(len(unknown), 'row has', 'rows have')} a label "
                "the model was not trained on: "
                f"{list_problems(unknown)}.\n  Labels the model knows: {known}",
                hint=hint,
            )
        return ids.tolist()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- splits


def check_classes(examples: Examples) -> None:
    """Fail unless the examples have at least 2 labels."""
    counts = examples.label_counts()
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(
            f"{examples.source}: every row has the label {only!r}; a classifier needs at least 2 classes",
            hint="check --label-column, or add examples of the other classes",
        )


def stratified_split(examples: Examples, share: float, seed: int) -> tuple[Examples, Examples]:
    """Hold out a seeded, stratified `share` of the examples: (train, validation).

    Raises:
        DataError: a class has a single row, or either side would have fewer rows than classes.
    """
    from sklearn.model_selection import train_test_split

    counts = examples.label_counts()
    rare = sorted(name for name, count in counts.items() if count < 2)
    if rare:
        listed = ", ".join(f"{name!r} ({counts[name]} row)" for name in rare[:10])
        raise DataError(
            f"{examples.source}: cannot make a stratified validation split: "
            f"{counted(len(rare), 'class has', 'classes have')} fewer than 2 rows: {listed}",
            hint="add rows for these classes, remove them, or pass --validation-file",
        )
    n_validation = math.ceil(share * len(examples))
    if n_validation < len(counts):
        # Rounded up, so that the suggested share never prints as 0.00 or falls short.
        suggested = min(0.5, math.ceil(len(counts) / len(examples) * 150) / 100)
        raise DataError(
            f"{examples.source}: a validation split of {share:g} gives "
            f"{counted(n_validation, 'row', 'rows')}, fewer than the {len(counts)} classes",
            hint=f"pass --validation-split {suggested:.2f} or larger, or --validation-file",
        )
    n_train = len(examples) - n_validation
    if n_train < len(counts):
        raise DataError(
            f"{examples.source}: a validation split of {share:g} leaves "
            f"{counted(n_train, 'row', 'rows')} for training, fewer than the {len(counts)} classes",
            hint="pass a smaller --validation-split, or --validation-file",
        )
    # Each label's rank among the sorted names: scikit-learn orders the classes by value, so these
    # ranks give the same split as the names themselves, without a million strings.
    rank_of_code = np.argsort(np.argsort(np.asarray(examples.label_names, dtype=object)))
    train_idx, val_idx = train_test_split(
        np.arange(len(examples)),
        test_size=n_validation,
        stratify=rank_of_code[examples.codes],
        random_state=seed,
    )
    return examples.subset(train_idx), examples.subset(val_idx)


def load_splits(cfg: DataConfig, seed: int, task: str = "auto") -> Splits:
    """Read the training, validation and test tables named in cfg (files, or the splits of cfg.dataset).

    Without a validation file (or split), a stratified, seeded share of the training file is held out.
    A training file with known sentence-pair columns and no "text" column is read as pairs (see
    `with_pair_columns`); cfg.label_map renames labels in every table, and fails on a name no row has.
    `textfit.checks.core.check_data` takes the same steps, turning their errors into failed checks;
    `check_splits` looks for duplicates, overlap and the rest. The task (model.task; detected when
    "auto", see `textfit.data.tasks.detect_task`) decides how labels are read; multi-label and regression
    rows are split at random, not stratified.

    Raises:
        ConfigError: the task cannot be told from the labels.
        DataError: naming the file, rows and columns of every problem, with a hint.
    """
    hub: dict[str, Table] = {}  # the splits of a data set, by role
    dataset_splits = None
    if cfg.dataset is not None:
        from textfit.data.hub import load_dataset_tables  # hub_data builds on this module

        loaded = load_dataset_tables(cfg)
        cfg, hub, dataset_splits = loaded.data, loaded.tables, loaded.splits  # data: pair columns found
        table = hub["train"]
    elif cfg.train_file is None:
        raise DataError("no training file given", hint="textfit train data.csv (or --dataset NAME)")
    else:
        table = read_table(cfg.train_file, cfg.format, cfg.encoding, cfg.delimiter)
        cfg = with_pair_columns(cfg, table)
    columns = find_columns(table, cfg)
    group = find_group_column(table, cfg, required=True)
    examples = table_examples(table, columns, cfg.drop_invalid, group_column=group, label_map=cfg.label_map)
    from textfit.data import tasks  # tasks builds on this module

    found, delimiter = tasks.detect_task(list(examples.label_counts()), task, cfg.label_delimiter, table.path)
    if found == "single_label":
        check_classes(examples)
    validation_source = cfg.validation_file or hub.get("validation")
    if validation_source is not None:
        train, validation = examples, read_examples(validation_source, cfg)
    else:
        split = stratified_split if found == "single_label" else tasks.random_split
        train, validation = split(examples, cfg.validation_split, seed)
        train.dropped = examples.dropped
    test_source = cfg.test_file or hub.get("test")
    test = read_examples(test_source, cfg) if test_source is not None else None
    check_label_map(cfg.label_map, (examples, validation if validation_source is not None else None, test))
    labels = tasks.task_labels(found, train, delimiter, columns["label"] or "label")
    for evaluated in (train, validation, test):
        if evaluated is not None:
            tasks.targets(found, evaluated, labels, delimiter)  # fail now on bad labels, not after training
    return Splits(train, validation, columns, test, found, delimiter, dataset_splits)
