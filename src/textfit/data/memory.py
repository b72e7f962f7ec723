"""Tables held in memory (pandas, pyarrow, datasets, dicts of columns) as the data layer's Table.

`textfit.train(tables={"train": df})` and `textfit.TextClassifier.fit(df)` train on them without
writing a file: the Table keeps no lines, so messages name the table and its rows ("<train table>:
row 17").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from textfit.data.hub import dataset_arrow
from textfit.data.tables import Table
from textfit.errors import DataError

ROLES = ("train", "validation", "test")


def memory_table(data: Any, role: str = "train") -> Table:
    """A Table of `data`: a pyarrow Table, a pandas DataFrame, a datasets.Dataset or a dict of columns.

    Any other object with a `to_arrow()` method (polars) or the Arrow stream interface works too.
    Its rows are named in messages as rows of "<ROLE table>".

    Raises:
        DataError: `data` is none of these, or its columns are not of one length.
    """
    name = Path(f"<{role} table>")
    try:
        arrow = _arrow(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as err:
        raise DataError(
            f"{name}: cannot be read as a table ({err})",
            hint="pass a pandas DataFrame, a pyarrow Table, a datasets.Dataset or a dict of equal-length "
            "lists, e.g. {'text': [...], 'label': [...]}",
        ) from None
    if arrow is None:
        raise DataError(
            f"{name}: a {type(data).__name__} is not a table",
            hint="pass a pandas DataFrame, a pyarrow Table, a datasets.Dataset or a dict of columns",
        )
    return Table(name, arrow.combine_chunks() if arrow.num_rows else arrow, None)


def _is_dataset(data: Any) -> bool:
    return type(data).__module__.startswith("datasets") and hasattr(data, "features")


def _is_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def is_table(data: Any) -> bool:
    """Whether `data` is a pyarrow Table, dict of columns, pandas DataFrame or datasets.Dataset.

    A list, array or pandas Series of texts is not.
    """
    return isinstance(data, pa.Table | Mapping) or _is_dataset(data) or _is_dataframe(data)


def _arrow(data: Any) -> pa.Table | None:
    """`data` in Arrow, or None for an object that holds no table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, Mapping):
        return pa.table({str(name): list(values) for name, values in data.items()})
    if _is_dataset(data):
        return dataset_arrow(data, 0, len(data))  # ClassLabel numbers as their names
    if _is_dataframe(data):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "to_arrow"):
        arrow = data.to_arrow()
        return arrow if isinstance(arrow, pa.Table) else None
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    return None


def memory_tables(tables: Mapping[str, Any]) -> dict[str, Table]:
    """The tables by role ("train", and "validation" / "test" where given) as Tables.

    Raises:
        DataError: a role other than train, validation and test, no training table, or a table
            that cannot be read (see `memory_table`).
    """
    unknown = sorted(set(tables) - set(ROLES))
    if unknown:
        raise DataError(
            f"tables has {', '.join(map(repr, unknown))}: the roles are train, validation and test",
            hint="tables={'train': df, 'validation': df2, 'test': df3} (validation and test optional)",
        )
    if tables.get("train") is None:
        raise DataError("tables has no 'train' table", hint="tables={'train': df}")
    return {role: memory_table(data, role) for role, data in tables.items() if data is not None}
