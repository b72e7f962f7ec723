"""Read a CSV, TSV, JSON Lines or Parquet file into a Table: its columns, and each row's line.

UTF-8 CSV, TSV and JSON Lines files are read by pyarrow where it reads them as Python's csv and json
modules do (plain quoting, plain JSON values); other encodings, ambiguous quoting and files with
errors go to the Python reader, which also words every error. Parquet is read by pyarrow.
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

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

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
_ARROW_BLOCK = 4 << 20  # pyarrow's reading block; a longer row sends the file to the Python reader
# The first bytes of files that are no text table, and what to do with each.
_EXPORT = "export the table as CSV, TSV, JSON Lines or Parquet"
MAGIC_NUMBERS = (
    (b"PAR1", "a Parquet file", "pass --format parquet, or name it .parquet"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one)", "extract it, or " + _EXPORT),
    (b"\x1f\x8b", "a gzip archive", "decompress it first (gunzip)"),
    (b"\xd0\xcf\x11\xe0", "an Office document (.xls)", _EXPORT),
    (b"%PDF", "a PDF document", _EXPORT),
    (b"\x89PNG", "a PNG image", _EXPORT),
    (b"\xff\xd8\xff", "a JPEG image", _EXPORT),
    (b"SQLite format 3\x00", "an SQLite database", _EXPORT),
)
_SNIFF_CHARS = 65536  # the text the delimiter is sniffed from


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


def _sniff_delimiter(path: Path, text: str) -> str:
    sample = text[:_SNIFF_CHARS]
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


def _csv_reader(handle: Iterable[str], delimiter: str) -> Any:
    csv.field_size_limit(2**31 - 1)  # the default (131,072 characters) rejects long documents
    return csv.reader(handle, delimiter=delimiter, strict=True)


def _header(path: Path, reader: Any) -> list[str]:
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


def _records(path: Path, reader: Any) -> Iterator[tuple[list[str], int]]:
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
    reader = _csv_reader(io.StringIO(text, newline=""), delimiter)
    header = _header(path, reader)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    ragged: list[str] = []
    for record, line in _records(path, reader):
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


def _jsonl_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
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
    for line_number, line in _jsonl_lines(text.split("\n")):
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


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataError(
            f"cannot read {path} as Parquet: {err}",
            hint="if it is a CSV, TSV or JSON Lines file, give it that extension or pass --format",
        ) from None
    return Table(path, arrow, None)


def _read_with_python(path: Path, fmt: str, encoding: str | None, delimiter: str | None) -> Table:
    """Read a CSV, TSV or JSON Lines file with Python's csv and json: any encoding, exact errors."""
    text = _decode(path, path.read_bytes(), encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    default = "\t" if fmt == "tsv" else None
    return _read_delimited(path, text, delimiter or default or _sniff_delimiter(path, text))


# ---------------------------------------------------------------- reading with pyarrow
# Used when it gives what the Python reader would: every function here returns None to hand the
# file to the Python reader (another encoding, ambiguous quoting, any error to be worded).


_STEP = 16 << 20  # bytes compared at a time: bounds the temporary boolean array


def _byte_positions(data: NDArray[np.uint8], byte: int) -> NDArray[np.int64]:
    """The positions of one byte value in a (memory-mapped) buffer."""
    found = [
        np.flatnonzero(data[start : start + _STEP] == byte) + start for start in range(0, len(data), _STEP)
    ]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _count_byte(data: NDArray[np.uint8], byte: int) -> int:
    return sum(
        int(np.count_nonzero(data[start : start + _STEP] == byte)) for start in range(0, len(data), _STEP)
    )


def _plain_quoting(data: NDArray[np.uint8], delimiter: int) -> bool:
    """Whether every quote in a CSV opens a field, closes one, or doubles one inside a field.

    Then the Python reader and pyarrow split the file alike. Counting quotes from the start, the
    even ones (0, 2, ...) open a field (after a delimiter, a line end or the start of the file) or
    are the second of a doubled quote; the odd ones close a field (before a delimiter, a line end
    or the end of the file) or are the first of a doubled quote. Anything else (a quote inside an
    unquoted field, text after a closing quote, a quote left open) goes to the Python reader, which
    reads a stray quote as text and words the errors.
    """
    quotes = _byte_positions(data, ord('"'))
    if len(quotes) % 2:
        return False
    if not len(quotes):
        return True
    edges = np.array([delimiter, ord("\n"), ord("\r"), ord('"')], np.uint8)
    before = data[np.maximum(quotes[0::2] - 1, 0)]
    opens = np.isin(before, edges) | (quotes[0::2] == 0)
    after = data[np.minimum(quotes[1::2] + 1, len(data) - 1)]
    closes = np.isin(after, edges) | (quotes[1::2] == len(data) - 1)
    return bool(opens.all() and closes.all())


def _utf8_start(raw: pa.Buffer, start: int, chars: int) -> str | None:
    """The first `chars` characters after byte `start` (fewer in a short file); None if not UTF-8."""
    end = min(raw.size, start + 4 * chars)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(raw[start:end].to_pybytes(), final=end == raw.size)[:chars]
    except UnicodeDecodeError:
        return None


def _delimited_line_numbers(path: Path, delimiter: str) -> list[int]:
    """The line each data row of a UTF-8 CSV starts on, found as the Python reader finds them."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = _csv_reader(handle, delimiter)
        _header(path, reader)
        return [line for _, line in _records(path, reader)]


def _arrow_delimited(path: Path, raw: pa.Buffer, start: int, fmt: str, delimiter: str | None) -> Table | None:
    import pyarrow.csv as pacsv

    sample = _utf8_start(raw, start, _SNIFF_CHARS)
    if sample is None or not sample or sample[0] in "\r\n":  # a blank first line is an odd header
        return None
    if delimiter is None:
        try:
            delimiter = "\t" if fmt == "tsv" else _sniff_delimiter(path, sample)
        except DataError:
            return None
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        return None
    try:
        raw_header = next(_csv_reader(io.StringIO(sample, newline=""), delimiter))
    except (StopIteration, csv.Error):
        return None
    header = [name.strip() for name in raw_header]
    if len(set(header)) != len(header):
        return None
    body = raw.slice(start)
    if not _plain_quoting(np.frombuffer(body, np.uint8), ord(delimiter)):
        return None
    try:
        arrow = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(block_size=_ARROW_BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"', double_quote=True, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in raw_header},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException:  # a ragged row, a row longer than a block, a bad byte, ...
        return None
    if arrow.column_names != raw_header:  # a header that did not fit in the sample
        return None
    return Table(path, arrow.rename_columns(header), lambda: _delimited_line_numbers(path, delimiter))


def _jsonl_line_numbers(path: Path) -> list[int]:
    """The line of each record of a UTF-8 JSON Lines file, found as the Python reader finds them."""
    with path.open(encoding="utf-8-sig", newline="\n") as handle:
        return [line_number for line_number, _ in _jsonl_lines(handle)]


def _arrow_jsonl(path: Path, raw: pa.Buffer, start: int) -> Table | None:
    import pyarrow.json as pajson

    body = raw.slice(start)
    try:
        arrow = pajson.read_json(
            pa.BufferReader(body), read_options=pajson.ReadOptions(block_size=_ARROW_BLOCK)
        )
        arrow.validate(full=True)  # pyarrow's JSON reader leaves invalid UTF-8 for here
    except pa.ArrowException:  # a broken line, a line that is no object, a key given twice, ...
        return None
    # pyarrow reads 1 and 2.5 in one column both as floats, and dates as timestamps: Python does not.
    plain = (pa.types.is_string, pa.types.is_int64, pa.types.is_boolean, pa.types.is_null)
    if arrow.num_columns == 0 or not all(any(is_type(f.type) for is_type in plain) for f in arrow.schema):
        return None
    # pyarrow also ends a record at "\r" and between two objects on one line, where Python fails.
    lines = _count_byte(np.frombuffer(body, np.uint8), ord("\n")) + 1
    blank = sum(1 for _ in re.finditer(rb"^[ \t\r]*$", memoryview(body), re.MULTILINE))
    if arrow.num_rows != lines - blank:
        return None
    return Table(path, arrow, lambda: _jsonl_line_numbers(path))


def _read_with_arrow(path: Path, fmt: str, encoding: str | None, delimiter: str | None) -> Table | None:
    """Read a UTF-8 CSV, TSV or JSON Lines file with pyarrow, or None to use the Python reader."""
    if encoding is not None:
        try:
            if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
                return None
        except LookupError:
            return None
    if path.stat().st_size == 0:
        return None
    with pa.memory_map(str(path)) as mapped:
        raw = mapped.read_buffer()
    if raw[:2].to_pybytes() in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return None
    start = len(codecs.BOM_UTF8) if raw[:3].to_pybytes() == codecs.BOM_UTF8 else 0
    if fmt == "jsonl":
        return _arrow_jsonl(path, raw, start)
    return _arrow_delimited(path, raw, start, fmt, delimiter)


def _first_nul(data: NDArray[np.uint8]) -> int | None:
    """The position of the first NUL byte in a (memory-mapped) buffer, or None."""
    for start in range(0, len(data), _STEP):
        part = data[start : start + _STEP]
        if not part.all():
            return start + int(np.argmin(part))
    return None


def _check_text_bytes(path: Path, encoding: str | None) -> None:
    """Refuse a binary file (known by its first bytes), and NUL bytes, which no text table holds.

    UTF-16 and UTF-32 files (by their BOM or the given encoding) hold NUL bytes and pass; a file
    whose start is half NUL bytes is UTF-16 without a byte-order mark, and is named as such.
    """
    with path.open("rb") as handle:
        head = handle.read(4096)
    for magic, kind, hint in MAGIC_NUMBERS:
        if head.startswith(magic):
            raise DataError(f"{path} is {kind}, not a text table", hint=hint)
    wide = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not head or wide or (encoding is not None and re.match(r"utf[-_]?(16|32)", encoding.lower())):
        return
    with pa.memory_map(str(path)) as mapped:
        data = np.frombuffer(mapped.read_buffer(), np.uint8)
        first = _first_nul(data)
        line = 0 if first is None else _count_byte(data[:first], ord("\n")) + 1
    if first is None:
        return
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if max(odd, even) * 4 >= len(head):  # ASCII text in UTF-16: every other byte is 0
        raise DataError(
            f"{path} looks like UTF-16 text without a byte-order mark (a NUL byte beside each letter)",
            hint=f"pass --encoding utf-16-{'le' if odd > even else 'be'}, or re-save the file as UTF-8",
        )
    raise DataError(
        f"{path}: line {line} holds a NUL byte (0x00), which no text table holds",
        hint="is it a binary file? Remove the NUL bytes, or export the table again as UTF-8 text",
    )


def read_table(
    path: Path, fmt: str = "auto", encoding: str | None = None, delimiter: str | None = None
) -> Table:
    """Read a CSV, TSV, JSON Lines or Parquet file.

    UTF-8 files are read by pyarrow where it reads them as Python's csv and json modules would;
    other encodings, ambiguous quoting and files with errors are read (and the errors worded) by
    the Python reader.

    Raises:
        DataError: the file is missing, binary, undecodable, or not a well-formed table.
    """
    if not path.is_file():
        raise DataError(
            f"{path} does not exist" if not path.exists() else f"{path} is not a file",
            hint="check the path (relative paths start from the current folder)",
        )
    fmt = table_format(path, fmt)
    if fmt == "parquet":
        table = _read_parquet(path)
    else:
        _check_text_bytes(path, encoding)
        table = _read_with_arrow(path, fmt, encoding, delimiter) or _read_with_python(
            path, fmt, encoding, delimiter
        )
    if len(table) == 0:
        raise DataError(f"{path} has no data rows", hint="a table needs a header row and data rows")
    return table
