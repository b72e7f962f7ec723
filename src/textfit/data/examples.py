"""The examples of a table (Examples) and the columns a table is read by.

`Examples` keep the validated rows in Arrow and build Python lists only when asked; the columns are
those given in the data settings, or found among common names (see `find_columns`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.tables import Table
from textfit.errors import DataError

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


# ---------------------------------------------------------------- columns


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
