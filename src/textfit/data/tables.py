"""The Table a file is read into (its columns, and each row's line), and the Python reader of tables.

The Python reader reads CSV, TSV and JSON Lines with Python's csv and json modules: any encoding,
and every error worded. `textfit.data.reading.read_table` is the entry point; it hands UTF-8 files
to pyarrow where pyarrow reads them as this reader would.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from textfit.errors import DataError, list_problems

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SNIFF_CHARS = 65536  # the text the delimiter is sniffed from


def counted(n: int, singular: str, plural: str) -> str:
    """'1 row has' / '3 rows have': a count with the words that agree with it."""
    return f"{n} {singular if n == 1 else plural}"


class Table:
    """A table read from one file: its columns, and the line each data row starts on.

    The columns are held in Arrow, or as Python lists where the Python reader read values that one
    Arrow column cannot hold (a JSON column of numbers and strings). `columns` gives Python lists
    either way. The line numbers of a table read by pyarrow are found on first use (by reading the
    file again with the Python reader): only messages about particular rows need them.
    """

    def __init__(
        self,
        path: Path,
        data: pa.Table | dict[str, list[Any]],
        line_numbers: list[int] | Callable[[], list[int]] | None = None,
    ) -> None:
        self.path = path
        self.arrow = data if isinstance(data, pa.Table) else None
        self._lists = None if isinstance(data, pa.Table) else data
        self._line_numbers = line_numbers

    @property
    def names(self) -> list[str]:
        """The column names, in file order."""
        return self.arrow.column_names if self.arrow is not None else list(self._lists or {})

    @property
    def columns(self) -> dict[str, list[Any]]:
        """Every column as a Python list (built from Arrow on first use)."""
        if self._lists is None:
            self._lists = self.arrow.to_pydict() if self.arrow is not None else {}
        return self._lists

    @property
    def line_numbers(self) -> list[int] | None:
        """The physical line each data row starts on; None where a format has no lines (Parquet)."""
        if callable(self._line_numbers):
            self._line_numbers = self._line_numbers()
        return self._line_numbers

    def __len__(self) -> int:
        if self.arrow is not None:
            return int(self.arrow.num_rows)
        return len(next(iter(self.columns.values()), []))

    def where(self, row_index: int) -> str:
        """Where data row `row_index` (0-based) is: 'row 17 (line 18)', or 'row 17' without lines."""
        line_numbers = self.line_numbers
        if line_numbers is None:
            return f"row {row_index + 1}"
        return f"row {row_index + 1} (line {line_numbers[row_index]})"

    def values(self, name: str) -> pa.ChunkedArray | list[Any]:
        """One column: in Arrow when the table is held in Arrow, else as a Python list."""
        return self.arrow.column(name) if self.arrow is not None else self.columns[name]


# ---------------------------------------------------------------- the Python reader


def table_format(path: Path, fmt: str = "auto") -> str:
    """The table format: `fmt` when given, else from the file extension."""
    if fmt != "auto":
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"cannot tell the format of {path} from its extension {path.suffix!r}",
            hint="name it .csv, .tsv, .jsonl or .parquet, or pass --format csv|tsv|jsonl|parquet",
        )
    return found


def _decode(path: Path, raw: bytes, encoding: str | None) -> str:
    """Decode bytes: the given encoding, else a BOM's, else UTF-8; name the line of a bad byte."""
    if encoding is None:
        encoding = next((name for bom, name in BOMS if raw.startswith(bom)), "utf-8")
    elif encoding.lower().replace("_", "-") in ("utf-8", "utf8") and raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except LookupError:
        raise DataError(
            f"unknown encoding {encoding!r}", hint="pass a Python codec name such as utf-8, latin-1"
        ) from None
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"cannot read {path} as {encoding.upper()} (invalid byte 0x{raw[err.start]:02x} in line {line})",
            hint="re-save the file as UTF-8, or pass --encoding latin-1 (or the file's encoding)",
        ) from None


def sniff_delimiter(path: Path, text: str) -> str:
    """The delimiter of a CSV text (, TAB ; |), sniffed from its start and checked against its header."""
    sample = text[:SNIFF_CHARS]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        # The header names the columns: a delimiter it lacks, where it holds just one other, is a
        # guess from the texts (a one-row file of '";' texts sniffs as ';').
        header = re.sub(r'"[^"]*"', "", sample.lstrip("\ufeff").split("\n", 1)[0])
        in_header = [candidate for candidate in ",\t;|" if candidate in header]
        return in_header[0] if sniffed not in header and len(in_header) == 1 else sniffed
    except csv.Error:
        header = sample.lstrip("\ufeff").split("\n", 1)[0]
        one_column = not any(candidate in header for candidate in ",\t;|")  # a file of texts
        if one_column or "\n" not in sample.strip() or "," in sample:
            return ","
        raise DataError(
            f"cannot tell the delimiter of {path}", hint="pass --delimiter ',' (or '\\t', ';', '|')"
        ) from None


def csv_reader(handle: Iterable[str], delimiter: str) -> Any:
    """A strict csv.reader that takes fields of any length."""
    csv.field_size_limit(2**31 - 1)  # the default (131,072 characters) rejects long documents
    return csv.reader(handle, delimiter=delimiter, strict=True)


def read_header(path: Path, reader: Any) -> list[str]:
    """The column names of the header row, stripped; fails on an empty file or a name given twice."""
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path} is empty", hint="a table needs a header row and data rows") from None
    except csv.Error as err:
        raise DataError(f"cannot parse the header of {path}: {err}") from None
    header = [name.strip() for name in header]
    duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicated:
        raise DataError(
            f"{path} has the column name {duplicated[0]!r} more than once",
            hint="give every column of the header row its own name",
        )
    return header


def read_records(path: Path, reader: Any) -> Iterator[tuple[list[str], int]]:
    """The records after the header, each with the physical line it starts on; blank lines skipped."""
    start = reader.line_num + 1
    try:
        for record in reader:
            if record:  # a blank line is no row
                yield record, start
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(
            f"cannot parse {path}: the row starting at line {start} is malformed ({err})",
            hint="check the quoting around that line (an unclosed quote swallows the lines after it)",
        ) from None


def _read_delimited(path: Path, text: str, delimiter: str) -> Table:
    reader = csv_reader(io.StringIO(text, newline=""), delimiter)
    header = read_header(path, reader)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    ragged: list[str] = []
    for record, line in read_records(path, reader):
        if len(record) != len(header):
            ragged.append(f"row {len(rows) + 1} (line {line}) has {len(record)}")
        rows.append(record)
        line_numbers.append(line)
    if ragged:
        raise DataError(
            f"{path}: {counted(len(ragged), 'row does', 'rows do')} not have the "
            f"{len(header)} fields of the header: "
            f"{list_problems(ragged)}",
            hint="quote fields that contain the delimiter, or pass --delimiter if it was guessed wrong",
        )
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    return Table(path, columns, line_numbers)


def jsonl_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSON Lines text (split at newlines only), with their line numbers."""
    for line_number, line in enumerate(lines, start=1):
        if line.strip():
            yield line_number, line


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
_JSON_KINDS[type(None)] = "null"


def _read_jsonl(path: Path, text: str) -> Table:
    records: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    # Split at "\n" only: str.splitlines() also splits at U+2028 and U+0085, which JSON strings hold.
    for line_number, line in jsonl_lines(text.split("\n")):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}: line {line_number} is not valid JSON ({err.msg})",
                hint="each line of a JSON Lines file must be one JSON object",
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: line {line_number} is not a JSON object (it is {_JSON_KINDS[type(record)]})",
                hint='each line of a JSON Lines file must be one JSON object: {"text": ..., "label": ...}',
            )
        records.append(record)
        line_numbers.append(line_number)
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {name: [record.get(name) for record in records] for name in names}
    return Table(path, columns, line_numbers)


def read_parquet(path: Path) -> Table:
    """A Parquet file, read by pyarrow."""
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataError(
            f"cannot read {path} as Parquet: {err}",
            hint="if it is a CSV, TSV or JSON Lines file, give it that extension or pass --format",
        ) from None
    return Table(path, arrow, None)


def read_with_python(path: Path, fmt: str, encoding: str | None, delimiter: str | None) -> Table:
    """Read a CSV, TSV or JSON Lines file with Python's csv and json: any encoding, exact errors."""
    text = _decode(path, path.read_bytes(), encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    default = "\t" if fmt == "tsv" else None
    return _read_delimited(path, text, delimiter or default or sniff_delimiter(path, text))
