"""Read a CSV, TSV, JSON Lines or Parquet file into a Table: `read_table`, the one entry point.

UTF-8 CSV, TSV and JSON Lines files are read by pyarrow where it reads them as Python's csv and json
modules do (plain quoting, plain JSON values); other encodings, ambiguous quoting and files with
errors go to the Python reader (`textfit.data.tables`), which also words every error. Parquet is
read by pyarrow. Binary files are refused by their first bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from textfit.data.tables import (
    SNIFF_CHARS,
    Table,
    csv_reader,
    jsonl_lines,
    read_header,
    read_parquet,
    read_records,
    read_with_python,
    sniff_delimiter,
    table_format,
)
from textfit.errors import DataError

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
        reader = csv_reader(handle, delimiter)
        read_header(path, reader)
        return [line for _, line in read_records(path, reader)]


def _arrow_delimited(path: Path, raw: pa.Buffer, start: int, fmt: str, delimiter: str | None) -> Table | None:
    import pyarrow.csv as pacsv

    sample = _utf8_start(raw, start, SNIFF_CHARS)
    if sample is None or not sample or sample[0] in "\r\n":  # a blank first line is an odd header
        return None
    if delimiter is None:
        try:
            delimiter = "\t" if fmt == "tsv" else sniff_delimiter(path, sample)
        except DataError:
            return None
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        return None
    try:
        raw_header = next(csv_reader(io.StringIO(sample, newline=""), delimiter))
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
        return [line_number for line_number, _ in jsonl_lines(handle)]


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
        table = read_parquet(path)
    else:
        _check_text_bytes(path, encoding)
        table = _read_with_arrow(path, fmt, encoding, delimiter) or read_with_python(
            path, fmt, encoding, delimiter
        )
    if len(table) == 0:
        raise DataError(f"{path} has no data rows", hint="a table needs a header row and data rows")
    return table
