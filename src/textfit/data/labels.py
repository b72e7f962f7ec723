"""Label names: how a label cell is read (as a name, with data.label_map applied), sorted and mapped to ids.

`LabelSet` holds the names a model knows; `spelling_key` tells spellings of one label apart ('Spam'
and 'spam'); `check_label_map` fails on a data.label_map name that no row has.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.data.examples import Examples
from textfit.data.tables import Table, counted
from textfit.errors import DataError, list_problems


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


def _distinct(values: pa.ChunkedArray) -> tuple[pa.Array, pa.ChunkedArray] | None:
    """The distinct values, and each value's position among them; None for types Arrow cannot hash."""
    try:
        distinct = pc.unique(values)
        return distinct, pc.index_in(values, value_set=distinct)
    except pa.ArrowNotImplementedError:
        return None


@dataclass
class LabelReading:
    """What reading a label column did: each row's code into the names, and the cells it changed."""

    codes: NDArray[np.int32]  # -1 where missing
    names: list[str]
    stripped: dict[str, int]  # a cell with surrounding spaces -> its rows
    mapped: dict[str, int]  # a name data.label_map renames -> its rows


def label_codes(table: Table, name: str, label_map: Mapping[str, str]) -> LabelReading:
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
    return LabelReading(codes, list(codes_by_name), dict(stripped), dict(mapped))


def is_number_label(name: str) -> bool:
    """Whether a label name reads as a number ('1', '-0.5'): such labels sort numerically."""
    return label_sort_key(name)[0] == 0


def label_sort_key(name: str) -> tuple[int, float, str]:
    """How label names sort: numbers first, numerically, then the other names."""
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
    found = sorted({name for examples in files for name in examples.label_names} | used, key=label_sort_key)
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
        return cls(tuple(sorted(set(labels), key=label_sort_key)))

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
