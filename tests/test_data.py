"""Reading tables, finding columns, validating rows, label maps and splits (tables in tmp_path)."""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.model_selection import train_test_split

from textfit.config.schema import DataConfig
from textfit.data.examples import find_columns
from textfit.data.labels import LabelSet, label_name
from textfit.data.reading import _read_with_arrow, read_table
from textfit.data.rows import PYTHON_WHITESPACE, read_examples, table_examples
from textfit.data.splits import load_splits
from textfit.data.tables import Table, read_with_python, table_format
from textfit.errors import DataError

EMPTY_HINT = "fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)"
PATH_HINT = "check the path (relative paths start from the current folder)"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    return write(path, header + "\n" + "".join(f"{text},{label}\n" for text, label in rows))


def balanced_rows(per_class: int, classes: tuple[str, ...] = ("a", "b", "c")) -> list[tuple[str, str]]:
    return [(f"{name} text {i}", name) for name in classes for i in range(per_class)]


# ---------------------------------------------------------------- formats


def test_csv(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "d.csv", "text,label\nhello there,pos\nawful,neg\n"))
    assert table.columns == {"text": ["hello there", "awful"], "label": ["pos", "neg"]}
    assert table.line_numbers == [2, 3]
    assert len(table) == 2
    assert table.where(1) == "row 2 (line 3)"


def test_tsv_by_extension(tmp_path: Path) -> None:
    # A comma inside a text does not split a TSV row.
    table = read_table(write(tmp_path / "d.tsv", "text\tlabel\nhello, there\tpos\nbad\tneg\n"))
    assert table.columns == {"text": ["hello, there", "bad"], "label": ["pos", "neg"]}


def test_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg", "extra": 1}\n',
    )
    table = read_table(path)
    assert table.columns == {
        "text": ["good", "bad"],
        "label": ["pos", "neg"],
        "extra": [None, 1],
    }
    assert table.line_numbers == [1, 3]  # the blank line 2 is no row, but still counts as a line


def test_jsonl_with_crlf_and_unicode_line_separators(tmp_path: Path) -> None:
    # U+2028 and U+0085 may stand unescaped inside a JSON string; they do not end a line.
    path = write(
        tmp_path / "d.jsonl",
        '{"text": "one\u2028two", "label": "a"}\r\n{"text": "three\u0085four", "label": "b"}\r\n',
    )
    table = read_table(path)
    assert table.columns["text"] == ["one\u2028two", "three\u0085four"]
    assert table.line_numbers == [1, 2]


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["good", "bad", "fine"], "label": [1, 0, 1]}), path)
    table = read_table(path)
    assert table.columns == {"text": ["good", "bad", "fine"], "label": [1, 0, 1]}
    assert table.line_numbers is None
    assert table.where(1) == "row 2"  # no lines in Parquet

    examples = read_examples(path, DataConfig())
    assert examples.labels == ["1", "0", "1"]
    assert examples.where(2) == "row 3"


def test_parquet_empty_text_names_the_row_without_a_line(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["good", None, " "], "label": ["a", "b", "a"]}), path)
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: 2 rows have an empty text in column 'text': row 2, row 3"),
    ) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == EMPTY_HINT


def test_damaged_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "d.parquet", "text,label\nnot,parquet\n")
    with pytest.raises(DataError, match=re.escape(f"cannot read {path} as Parquet: ")):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
    ],
)
def test_format_by_extension(name: str, expected: str) -> None:
    assert table_format(Path(name)) == expected


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", "text,label\na,b\n")
    with pytest.raises(
        DataError, match=re.escape(f"cannot tell the format of {path} from its extension '.txt'")
    ) as caught:
        read_table(path)
    assert caught.value.hint == (
        "name it .csv, .tsv, .jsonl or .parquet, or pass --format csv|tsv|jsonl|parquet"
    )


def test_forced_format(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "data.txt", '{"text": "hi", "label": "a"}\n')
    assert read_table(jsonl, "jsonl").columns == {"text": ["hi"], "label": ["a"]}
    tsv = write(tmp_path / "data.dat", "text\tlabel\nhi, you\ta\n")
    assert read_table(tsv, "tsv").columns == {"text": ["hi, you"], "label": ["a"]}
    # Forcing overrides the extension too: this .csv holds JSON Lines.
    mislabelled = write(tmp_path / "really.csv", '{"text": "hi", "label": "a"}\n')
    assert read_table(mislabelled, "jsonl").columns["label"] == ["a"]
    assert read_examples(mislabelled, DataConfig(format="jsonl")).texts == ["hi"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"{path} does not exist")) as caught:
        read_table(path)
    assert caught.value.hint == PATH_HINT


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path} is not a file")) as caught:
        read_table(tmp_path)
    assert caught.value.hint == PATH_HINT


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "")
    with pytest.raises(DataError, match=re.escape(f"{path} is empty")) as caught:
        read_table(path)
    assert caught.value.hint == "a table needs a header row and data rows"


@pytest.mark.parametrize(
    ("name", "text"), [("d.csv", "text,label\n"), ("d.jsonl", "\n\n")], ids=["csv", "jsonl"]
)
def test_no_data_rows(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(DataError, match=re.escape(f"{path} has no data rows")) as caught:
        read_table(path)
    assert caught.value.hint == "a table needs a header row and data rows"


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label,text\na,b,c\n")
    with pytest.raises(
        DataError, match=re.escape(f"{path} has the column name 'text' more than once")
    ) as caught:
        read_table(path)
    assert caught.value.hint == "give every column of the header row its own name"


# ---------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_delimiter_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [("great film", "pos"), ("dull plot", "neg"), ("fine", "pos")]
    text = "".join(f"{a}{delimiter}{b}\n" for a, b in [("text", "label"), *rows])
    table = read_table(write(tmp_path / "d.csv", text))
    assert table.columns == {"text": [r[0] for r in rows], "label": [r[1] for r in rows]}


def test_semicolon_file_whose_texts_hold_commas(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text;label\nhello, world;pos\nbad, sad, awful;neg\nfine;pos\n")
    table = read_table(path)
    assert table.columns["text"] == ["hello, world", "bad, sad, awful", "fine"]


def test_given_delimiter_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text;label\na,b;x\nc,d;y\n")
    assert read_table(path, delimiter=";").columns["text"] == ["a,b", "c,d"]
    cfg = DataConfig(delimiter=";")
    assert read_examples(path, cfg).labels == ["x", "y"]


def test_one_column_file_is_read(tmp_path: Path) -> None:
    # A file of texts only (for prediction) has no delimiter to find.
    table = read_table(write(tmp_path / "d.csv", "text\nhello\nworld\n"))
    assert table.columns == {"text": ["hello", "world"]}
    examples = read_examples(tmp_path / "d.csv", DataConfig(), need_labels=False)
    assert examples.texts == ["hello", "world"]


def test_delimiter_cannot_be_told(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text;label\nhello;a\nworld|b|c\n")
    with pytest.raises(DataError, match=re.escape(f"cannot tell the delimiter of {path}")) as caught:
        read_table(path)
    assert caught.value.hint == "pass --delimiter ',' (or '\\t', ';', '|')"


# ---------------------------------------------------------------- encodings


def test_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ncafé,a\n", encoding="utf-8-sig")
    table = read_table(path)
    assert list(table.columns) == ["text", "label"]  # no BOM glued to the first name
    assert table.columns["text"] == ["café"]
    assert list(read_table(path, encoding="utf-8").columns) == ["text", "label"]
    assert list(read_table(path, encoding="UTF_8").columns) == ["text", "label"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(tmp_path: Path, encoding: str) -> None:
    text = "text\tlabel\ncafé\tä\nnaïve\tb\n"
    if encoding != "utf-16":  # the plain codec writes its own BOM
        text = "\ufeff" + text
    table = read_table(write(tmp_path / "d.tsv", text, encoding=encoding))
    assert table.columns == {"text": ["café", "naïve"], "label": ["ä", "b"]}
    assert table.line_numbers == [2, 3]


def test_utf16_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "ünïcode", "label": "a"}\n', encoding="utf-16")
    assert read_table(path).columns["text"] == ["ünïcode"]


def test_undecodable_byte_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,a\ncaf\xe9,b\n")
    with pytest.raises(
        DataError, match=re.escape(f"cannot read {path} as UTF-8 (invalid byte 0xe9 in line 3)")
    ) as caught:
        read_table(path)
    assert caught.value.hint == (
        "re-save the file as UTF-8, or pass --encoding latin-1 (or the file's encoding)"
    )
    # Following the hint works.
    assert read_table(path, encoding="latin-1").columns["text"] == ["fine", "café"]
    assert read_examples(path, DataConfig(encoding="latin-1")).texts == ["fine", "café"]


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\na,b\n")
    with pytest.raises(DataError, match=re.escape("unknown encoding 'klingon'")) as caught:
        read_table(path, encoding="klingon")
    assert caught.value.hint == "pass a Python codec name such as utf-8, latin-1"


# ---------------------------------------------------------------- malformed files


def test_quoted_newlines_keep_physical_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        'text,label\n"first\nspans\nthree lines",a\nplain,b\n"two\nlines",\nlast,\n',
    )
    table = read_table(path)
    assert table.columns["text"] == ["first\nspans\nthree lines", "plain", "two\nlines", "last"]
    assert table.line_numbers == [2, 5, 6, 8]
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 2 rows have an empty label in column 'label': row 3 (line 6), row 4 (line 8)"
        ),
    ) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == EMPTY_HINT


def test_quoted_newlines_with_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'text,label\r\n"a\r\nb",x\r\nc,\r\n')
    assert read_table(path).columns["text"] == ["a\r\nb", "c"]
    with pytest.raises(
        DataError, match=re.escape("1 row has an empty label in column 'label': row 2 (line 4)")
    ):
        read_examples(path, DataConfig())


def test_blank_lines_are_no_rows(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "d.csv", "text,label\na,x\n\nb,y\n"))
    assert table.columns["text"] == ["a", "b"]
    assert table.line_numbers == [2, 4]


def test_ragged_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\na,x\nb,y,extra\nc\nd,z\n")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 2 rows do not have the 2 fields of the header: "
            "row 2 (line 3) has 3, row 3 (line 4) has 1"
        ),
    ) as caught:
        read_table(path)
    assert caught.value.hint == (
        "quote fields that contain the delimiter, or pass --delimiter if it was guessed wrong"
    )


def test_one_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\na,x,y\nb,z\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: 1 row does not have the 2 fields of the header: row 1 (line 2) has 3"),
    ):
        read_table(path)


def test_unclosed_quote_names_the_line_it_starts_on(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'text,label\nfine,a\n"never closed,b\nmore,c\nlast,d\n')
    with pytest.raises(
        DataError,
        match=re.escape(f"cannot parse {path}: the row starting at line 3 is malformed ("),
    ) as caught:
        read_table(path)
    assert caught.value.hint == (
        "check the quoting around that line (an unclosed quote swallows the lines after it)"
    )


def test_jsonl_broken_line(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n')
    with pytest.raises(
        DataError, match=re.escape(f"{path}: line 3 is not valid JSON (Expecting value)")
    ) as caught:
        read_table(path)
    assert caught.value.hint == "each line of a JSON Lines file must be one JSON object"


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n')
    with pytest.raises(DataError, match=re.escape(f"{path}: line 2 is not a JSON object")):
        read_table(path)


# ---------------------------------------------------------------- columns


@pytest.mark.parametrize(
    ("header", "text", "label"),
    [
        ("text,label", "text", "label"),
        ("sentence,labels", "sentence", "labels"),
        ("id,Review,Category", "Review", "Category"),
        ("message,class,date", "message", "class"),
        ("target,content", "content", "target"),
    ],
)
def test_columns_found_from_common_names(tmp_path: Path, header: str, text: str, label: str) -> None:
    values = {"id": "1", "date": "2024-01-01"}
    names = header.split(",")
    row = ",".join(values.get(name, name.lower() + " value") for name in names)
    table = read_table(write(tmp_path / "d.csv", f"{header}\n{row}\n"))
    assert find_columns(table, DataConfig()) == {"text": text, "text_pair": None, "label": label}


def test_no_label_column_found(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv", "review,polarity,date\ngood,pos,2024\n")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: no label column found among the usual names "
            "(label, labels, category, class, target, sentiment). "
            "Columns found: 'review', 'polarity', 'date'"
        ),
    ) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == "pass --label-column NAME"
    # Following the hint works.
    examples = read_examples(path, DataConfig(label_column="polarity"))
    assert (examples.texts, examples.labels) == (["good"], ["pos"])


def test_no_text_column_found(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "body,label\ngood,pos\n")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: no text column found among the usual names "
            "(text, sentence, review, message, content). Columns found: 'body', 'label'"
        ),
    ) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == "pass --text-column NAME"


def test_given_column_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ngood,pos\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path} has no column 'sentiment'. Columns found: 'text', 'label'"),
    ) as caught:
        read_examples(path, DataConfig(label_column="sentiment"))
    assert caught.value.hint == "pass --label-column with one of the columns found"


def test_prediction_needs_no_label_column(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "d.csv", "text,date\nhello,2024\n"))
    assert find_columns(table, DataConfig(), need_label=False)["label"] is None


def test_text_and_label_the_same_column(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ngood,pos\n")
    with pytest.raises(
        DataError, match=re.escape(f"{path}: the text and label columns are both 'label'")
    ) as caught:
        read_examples(path, DataConfig(text_column="label"))
    assert caught.value.hint == "pass --text-column and --label-column naming two different columns"


def test_text_pair_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "nli.csv",
        "premise,hypothesis,label\nA man sleeps,A person rests,entail\nIt rains,It is dry,contra\n",
    )
    cfg = DataConfig(text_column="premise", text_pair_column="hypothesis")
    examples = read_examples(path, cfg)
    assert examples.texts == ["A man sleeps", "It rains"]
    assert examples.text_pairs == ["A person rests", "It is dry"]
    assert examples.labels == ["entail", "contra"]
    assert examples.subset([1]).text_pairs == ["It is dry"]
    assert read_examples(path, DataConfig(text_column="premise")).text_pairs is None


def test_text_pair_column_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\na,b\n")
    with pytest.raises(
        DataError, match=re.escape(f"{path} has no column 'hypo'. Columns found: 'text', 'label'")
    ) as caught:
        read_examples(path, DataConfig(text_pair_column="hypo"))
    assert caught.value.hint == "pass --text-pair-column with one of the columns found"


def test_empty_text_pair(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,pair,label\na,b,x\nc,,y\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: 1 row has an empty text pair in column 'pair': row 2 (line 3)"),
    ):
        read_examples(path, DataConfig(text_pair_column="pair"))


# ---------------------------------------------------------------- rows


def test_empty_texts_name_rows_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ngood,a\n,b\n   ,a\nfine,b\n")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 2 rows have an empty text in column 'text': row 2 (line 3), row 3 (line 4)"
        ),
    ) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == EMPTY_HINT


def test_empty_texts_and_labels_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\n,a\nb,\nc,d\n")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 1 row has an empty text in column 'text': row 1 (line 2); "
            "1 row has an empty label in column 'label': row 2 (line 3)"
        ),
    ):
        read_examples(path, DataConfig())


def test_empty_labels_cut_after_ten(tmp_path: Path) -> None:
    rows = [(f"text {i}", "") for i in range(13)]
    path = write_csv(tmp_path / "d.csv", [("ok", "a"), *rows])
    listed = ", ".join(f"row {i} (line {i + 1})" for i in range(2, 12))
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: 13 rows have an empty label in column 'label': {listed}, and 3 more"),
    ):
        read_examples(path, DataConfig())


def test_jsonl_null_is_empty(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"text": "a", "label": "x"}, {"text": None, "label": "y"}, {"label": "z"}],
    )
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 2 rows have an empty text in column 'text': row 2 (line 2), row 3 (line 3)"
        ),
    ):
        read_examples(path, DataConfig())


def test_drop_invalid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "d.csv", "text,label\ngood,a\n,b\nfine,\nokay,b\n")
    with caplog.at_level(logging.WARNING, logger="textfit.data.rows"):
        examples = read_examples(path, DataConfig(drop_invalid=True))
    assert examples.texts == ["good", "okay"]
    assert examples.labels == ["a", "b"]
    assert examples.dropped == 2
    assert examples.where(1) == "row 4 (line 5)"  # still the place in the file
    assert f"{path}: dropped 2 rows with an empty text or label" in caplog.text


def test_drop_invalid_counted_in_splits(tmp_path: Path) -> None:
    rows = [*balanced_rows(10, ("a", "b")), ("", "a"), ("x", ""), ("  ", "")]
    path = write_csv(tmp_path / "d.csv", rows)
    splits = load_splits(DataConfig(train_file=path, drop_invalid=True), seed=0)
    assert splits.train.dropped == 3
    assert len(splits.train) + len(splits.validation) == 20


def test_nothing_left_after_dropping(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\n,a\nb,\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: no usable rows left")) as caught:
        read_examples(path, DataConfig(drop_invalid=True))
    assert caught.value.hint == "every row had an empty field"


def test_na_like_texts_and_labels_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "text,label\nNA,None\nnull,null\nNone,NA\nN/A,nan\nnan,x\n",
    )
    examples = read_examples(path, DataConfig())
    assert examples.texts == ["NA", "null", "None", "N/A", "nan"]
    assert examples.labels == ["None", "null", "NA", "nan", "x"]
    assert examples.dropped == 0


def test_na_like_strings_kept_in_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"text": "null", "label": "NA"}, {"text": "None", "label": "b"}]
    )
    examples = read_examples(path, DataConfig())
    assert (examples.texts, examples.labels) == (["null", "None"], ["NA", "b"])


def test_texts_keep_their_spaces_labels_are_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'text,label\n"  padded text ", pos \n')
    examples = read_examples(path, DataConfig())
    assert examples.texts == ["  padded text "]
    assert examples.labels == ["pos"]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (" pos ", "pos"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_label_name(value: Any, name: str | None) -> None:
    assert label_name(value) == name


# ---------------------------------------------------------------- labels


def test_integer_labels_sort_numerically(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [("a", "10"), ("b", "2"), ("c", "1"), ("d", "2")])
    labels = LabelSet.from_labels(read_examples(path, DataConfig()).labels)
    assert labels.names == ("1", "2", "10")
    assert labels.label2id == {"1": 0, "2": 1, "10": 2}
    assert labels.id2label == {0: "1", 1: "2", 2: "10"}
    assert len(labels) == 3


def test_numeric_labels_from_jsonl_and_parquet_agree(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 10}, {"text": "b", "label": 2}])
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [10.0, 2.0]}), parquet)
    for path in (jsonl, parquet):
        examples = read_examples(path, DataConfig())
        assert examples.labels == ["10", "2"]
        assert LabelSet.from_labels(examples.labels).names == ("2", "10")


def test_string_labels_sort_alphabetically_after_numbers() -> None:
    labels = LabelSet.from_labels(["positive", "negative", "neutral", "negative"])
    assert labels.names == ("negative", "neutral", "positive")
    assert labels.label2id == {"negative": 0, "neutral": 1, "positive": 2}
    assert labels.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert LabelSet.from_labels(["b", "10", "a", "2"]).names == ("2", "10", "a", "b")


def test_encode(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [("a", "neg"), ("b", "pos"), ("c", "neg")])
    examples = read_examples(path, DataConfig())
    assert LabelSet(("neg", "pos")).encode(examples) == [0, 1, 0]


def test_encode_unknown_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "test.csv", [("a", "positive"), ("b", "neutral"), ("c", "mixed")])
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 2 rows have a label the model was not trained on: "
            "row 2 (line 3) has label 'neutral', row 3 (line 4) has label 'mixed'.\n"
            "  Labels the model knows: 'negative', 'positive'"
        ),
    ) as caught:
        LabelSet(("negative", "positive")).encode(read_examples(path, DataConfig()))
    assert caught.value.hint == "fix those labels, or retrain with them in the training file"


# ---------------------------------------------------------------- splits


def test_no_training_file() -> None:
    with pytest.raises(DataError, match=re.escape("no training file given")) as caught:
        load_splits(DataConfig(), seed=0)
    assert caught.value.hint == "textfit train data.csv (or --dataset NAME)"


def test_stratified_split_is_seeded(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(10))
    cfg = DataConfig(train_file=path, validation_split=0.3)
    first = load_splits(cfg, seed=1)
    again = load_splits(cfg, seed=1)
    other = load_splits(cfg, seed=2)
    assert first.validation.texts == again.validation.texts
    assert first.train.texts == again.train.texts
    assert set(first.validation.texts) != set(other.validation.texts)

    assert len(first.validation) == 9
    assert len(first.train) == 21
    assert set(first.train.texts) | set(first.validation.texts) == {t for t, _ in balanced_rows(10)}
    assert not set(first.train.texts) & set(first.validation.texts)
    for part in (first.train, first.validation):
        assert sorted(set(part.labels)) == ["a", "b", "c"]
    assert first.columns == {"text": "text", "text_pair": None, "label": "label"}
    assert first.test is None


def test_split_examples_still_name_their_lines(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(5, ("a", "b")))
    splits = load_splits(DataConfig(train_file=path, validation_split=0.4), seed=0)
    texts = [t for t, _ in balanced_rows(5, ("a", "b"))]
    for part in (splits.train, splits.validation):
        for i, text in enumerate(part.texts):
            row = texts.index(text)
            assert part.where(i) == f"row {row + 1} (line {row + 2})"


def test_single_class(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [("a", "spam"), ("b", "spam"), ("c", "spam")])
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: every row has the label 'spam'; a classifier needs at least 2 classes"),
    ) as caught:
        load_splits(DataConfig(train_file=path), seed=0)
    assert caught.value.hint == "check --label-column, or add examples of the other classes"


def test_class_too_small_to_split(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [*balanced_rows(5, ("a", "b")), ("x", "rare"), ("y", "odd")])
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: cannot make a stratified validation split: "
            "2 classes have fewer than 2 rows: 'odd' (1 row), 'rare' (1 row)"
        ),
    ) as caught:
        load_splits(DataConfig(train_file=path), seed=0)
    assert caught.value.hint == "add rows for these classes, remove them, or pass --validation-file"


def test_class_too_small_is_fine_with_a_validation_file(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", [*balanced_rows(3, ("a", "b")), ("x", "rare")])
    validation = write_csv(tmp_path / "val.csv", [("p", "a"), ("q", "rare")])
    splits = load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)
    assert len(splits.train) == 7
    assert splits.validation.labels == ["a", "rare"]


def test_validation_split_smaller_than_class_count(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(10))
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: a validation split of 0.05 gives 2 rows, fewer than the 3 classes"),
    ) as caught:
        load_splits(DataConfig(train_file=path, validation_split=0.05), seed=0)
    assert caught.value.hint == "pass --validation-split 0.15 or larger, or --validation-file"
    # Following the hint works.
    splits = load_splits(DataConfig(train_file=path, validation_split=0.15), seed=0)
    assert sorted(set(splits.validation.labels)) == ["a", "b", "c"]


def test_validation_split_hint_never_rounds_to_zero(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(400))
    with pytest.raises(
        DataError,
        match=re.escape("a validation split of 0.001 gives 2 rows, fewer than the 3 classes"),
    ) as caught:
        load_splits(DataConfig(train_file=path, validation_split=0.001), seed=0)
    assert caught.value.hint == "pass --validation-split 0.01 or larger, or --validation-file"


def test_validation_split_leaving_too_few_for_training(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(2, ("a", "b")))
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: a validation split of 0.9 leaves 0 rows for training, fewer than the 2 classes"
        ),
    ) as caught:
        load_splits(DataConfig(train_file=path, validation_split=0.9), seed=0)
    assert caught.value.hint == "pass a smaller --validation-split, or --validation-file"


def test_validation_file(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", balanced_rows(3, ("a", "b")))
    validation = write_csv(tmp_path / "val.csv", [("new a", "a"), ("new b", "b")])
    test = write_csv(tmp_path / "test.csv", [("test b", "b")])
    cfg = DataConfig(train_file=train, validation_file=validation, test_file=test)
    splits = load_splits(cfg, seed=0)
    assert len(splits.train) == 6
    assert splits.validation.texts == ["new a", "new b"]
    assert splits.test is not None
    assert splits.test.labels == ["b"]


@pytest.mark.parametrize("role", ["validation_file", "test_file"])
def test_unknown_label_in_validation_or_test_file(tmp_path: Path, role: str) -> None:
    train = write_csv(tmp_path / "train.csv", balanced_rows(10, ("negative", "positive")))
    other = write_csv(tmp_path / "other.csv", [("fine", "positive"), ("meh", "neutral")])
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{other}: 1 row has a label the model was not trained on: "
            "row 2 (line 3) has label 'neutral'.\n"
            "  Labels the model knows: 'negative', 'positive'"
        ),
    ) as caught:
        load_splits(DataConfig(train_file=train, **{role: other}), seed=0)
    assert caught.value.hint == "fix those labels, or retrain with them in the training file"


def test_group_column_comes_along_and_is_optional_outside_training(tmp_path: Path) -> None:
    train = write(
        tmp_path / "train.csv", "text,label,language\nhello,a,en\nbonjour,b,fr\nhi,a,\nsalut,b,fr\n"
    )
    validation = write_csv(tmp_path / "val.csv", [("hey", "a"), ("coucou", "b")])
    cfg = DataConfig(train_file=train, validation_file=validation, group_column="language")

    splits = load_splits(cfg, seed=0)

    assert splits.train.column("group").to_pylist() == ["en", "fr", "", "fr"]
    assert "group" not in splits.validation.data.column_names
    assert splits.columns == {"text": "text", "text_pair": None, "label": "label"}
    without = load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)
    assert "group" not in without.train.data.column_names


def test_group_column_missing_from_the_training_file(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", balanced_rows(3, ("a", "b")))

    with pytest.raises(
        DataError, match=re.escape(f"{train} has no column 'language'. Columns found: 'text', 'label'")
    ) as caught:
        load_splits(DataConfig(train_file=train, group_column="language"), seed=0)
    assert caught.value.hint == "pass --group-column with one of the columns found"


def test_group_column_of_dropped_rows_is_dropped_too(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label,language\nhello,a,en\n,b,fr\nhi,b,de\n")
    table = read_table(path)
    columns = find_columns(table, DataConfig())

    examples = table_examples(table, columns, drop_invalid=True, group_column="language")

    assert examples.column("group").to_pylist() == ["en", "de"]
    assert examples.dropped == 1


# ---------------------------------------------------------------- pyarrow reads as Python would


def both_readers(path: Path, fmt: str, delimiter: str | None = None) -> tuple[Table | None, Table]:
    return _read_with_arrow(path, fmt, None, delimiter), read_with_python(path, fmt, None, delimiter)


def assert_same_table(fast: Table | None, slow: Table) -> None:
    assert fast is not None, "pyarrow should have read this file"
    assert fast.arrow is not None
    assert fast.names == slow.names
    assert fast.columns == slow.columns
    assert fast.line_numbers == slow.line_numbers


PLAIN_FILES = {
    "quoted newlines": (
        "d.csv",
        'text,label\n"first\nspans\nthree lines",a\nplain,b\n"two\r\nlines",c\n"say ""hi""",d\n',
    ),
    "blank lines": ("d.csv", "text,label\n\na,x\n\n\nb,y\n\n"),
    "crlf and no final newline": ("d.csv", "text,label\r\na,x\r\nb,y"),
    "carriage returns only": ("d.csv", "text,label\ra,x\rb,y\r"),
    "utf-8 bom": ("d.csv", "\ufefftext,label\ncaf\u00e9,x\nna\u00efve,y\n"),
    "tsv with commas and quotes": ("d.tsv", 'text\tlabel\nhello, there\tpos\n"tab\there"\tneg\n'),
    "semicolons": ("d.csv", "text;label\nhello, world;pos\nbad, sad;neg\nfine;pos\n"),
    "one column": ("d.csv", "text\nhello\nworld\n"),
    "quoted, padded header": ("d.csv", '" text ","label"\n"a",x\n'),
    "empty fields and spaces": ("d.csv", 'text,label\n,x\n"",y\n  ,z\n" ",\n'),
    "unicode separators in text": ("d.csv", "text,label\none\u2028two,x\nthree\u0085four,y\n"),
    "jsonl": ("d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b\\u2028c", "label": 2, "x": true}\n'),
    "jsonl crlf and blank lines": ("d.jsonl", '{"text": "a", "label": "x"}\r\n \r\n{"label": "y"}\r\n'),
    "jsonl with bom": ("d.jsonl", '\ufeff{"text": "caf\u00e9", "label": null}\n'),
}


@pytest.mark.parametrize("name", PLAIN_FILES)
def test_pyarrow_and_python_readers_agree(tmp_path: Path, name: str) -> None:
    file_name, text = PLAIN_FILES[name]
    path = write(tmp_path / file_name, text)
    fmt = table_format(path)
    fast, slow = both_readers(path, fmt)
    assert_same_table(fast, slow)
    # and so do the examples validated from them, rows, lines and errors included
    columns = find_columns(slow, DataConfig(), need_label=len(slow.names) > 1)
    need_labels = columns["label"] is not None
    assert fast is not None
    for drop_invalid in (False, True):
        outcomes = []
        for table in (fast, slow):
            try:
                examples = table_examples(table, columns, drop_invalid, need_labels)
                outcomes.append((examples.texts, examples.labels, examples.rows, examples.dropped))
            except DataError as err:
                outcomes.append((str(err),))
        assert outcomes[0] == outcomes[1]


NOT_PLAIN_FILES = {
    "quote inside an unquoted field": ("d.csv", 'text,label\nsay "hi" now,x\n'),
    "text after a closing quote": ("d.csv", 'text,label\n"quoted" then,x\n'),
    "quote left open": ("d.csv", 'text,label\n"never closed,x\n'),
    "ragged row": ("d.csv", "text,label\na,x,extra\n"),
    "blank first line": ("d.csv", "\ntext,label\na,x\n"),
    "latin-1 byte": ("d.csv", None),
    "utf-16": ("d.tsv", None),
    "jsonl ints and floats in one column": (
        "d.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", "label": 2.5}\n',
    ),
    "jsonl two objects on a line": ("d.jsonl", '{"text": "a", "label": 1} {"text": "b", "label": 2}\n'),
    "jsonl object and carriage return": ("d.jsonl", '{"text": "a", "label": 1}\r{"text": "b", "label": 2}\n'),
    "jsonl dates": ("d.jsonl", '{"text": "2024-01-01", "label": "a"}\n'),
    "jsonl key given twice": ("d.jsonl", '{"text": "a", "text": "b", "label": "x"}\n'),
    "jsonl nested": ("d.jsonl", '{"text": "a", "label": {"name": "x"}}\n'),
}


@pytest.mark.parametrize("name", NOT_PLAIN_FILES)
def test_files_pyarrow_would_read_otherwise_go_to_the_python_reader(tmp_path: Path, name: str) -> None:
    file_name, text = NOT_PLAIN_FILES[name]
    path = tmp_path / file_name
    if name == "latin-1 byte":
        path.write_bytes(b"text,label\ncaf\xe9,x\n")
    elif name == "utf-16":
        write(path, "text\tlabel\na\tx\n", encoding="utf-16")
    else:
        write(path, text)
    assert _read_with_arrow(path, table_format(path), None, None) is None
    try:
        expected: Any = read_with_python(path, table_format(path), None, None).columns
    except DataError as err:
        expected = str(err)
    try:
        found: Any = read_table(path).columns
    except DataError as err:
        found = str(err)
    assert found == expected


def test_stray_quotes_are_text_as_before(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'text,label\nsay "hi" now,x\n')
    assert read_table(path).columns["text"] == ['say "hi" now']


def test_other_encodings_use_the_python_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ncaf\u00e9,x\n", encoding="latin-1")
    assert _read_with_arrow(path, "csv", "latin-1", None) is None
    assert read_table(path, encoding="latin-1").columns["text"] == ["caf\u00e9"]
    plain = write(tmp_path / "plain.csv", "text,label\na,x\n")
    assert _read_with_arrow(plain, "csv", "UTF_8", None) is not None
    assert _read_with_arrow(plain, "csv", "klingon", None) is None  # the Python reader words it


def random_csv(rng: random.Random) -> str:
    header = rng.choice(["text,label\n", "text,label\r\n", '"text","label"\n', "text\n", "a,b,c\n", ""])
    pieces = ["a", "b", ",", ",", '"', '"', "\n", "\n", "\r", "\r\n", " ", ";", "\t", "\u00e9", "\u2028"]
    return header + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))


def random_jsonl(rng: random.Random) -> str:
    plain = ['"a"', '"b c"', '""', '" "', "1", "-0", "true", "null", '"\\u2028"', '"\\ud83d\\ude00"']
    odd = ["2.5", "[1]", '{"q": 1}', '"2024-01-01"', "NaN", '"\\ud800"']
    values = plain if rng.random() < 0.6 else plain + odd
    lines = []
    for _ in range(rng.randint(0, 4)):
        keys = rng.sample(["text", "label", "x"], rng.randint(0, 3))
        line = "{" + ", ".join(f'"{key}": {rng.choice(values)}' for key in keys) + "}"
        if rng.random() < 0.05:
            line = rng.choice(["[1]", "{bad", '{"text": "a"} {"text": "b"}'])
        lines.append(line + rng.choice(["\n", "\n", "\r\n", "\n\n", "\n \n", "\r", " "]))
    return "".join(lines)


@pytest.mark.parametrize(("fmt", "make"), [("csv", random_csv), ("jsonl", random_jsonl)])
def test_pyarrow_reads_random_files_as_python_does_or_not_at_all(tmp_path: Path, fmt: str, make: Any) -> None:
    # Random files full of quotes, line ends and odd values: wherever pyarrow's table is used, it is
    # the Python reader's (and the Python reader had no error to report).
    rng = random.Random(7)
    used = 0
    for trial in range(400):
        path = write(tmp_path / f"t{trial % 5}.{fmt}", make(rng), encoding=rng.choice(["utf-8", "utf-8-sig"]))
        delimiter = rng.choice([None, None, ",", ";"]) if fmt == "csv" else None
        fast = _read_with_arrow(path, fmt, None, delimiter)
        if fast is None:
            continue
        used += 1
        slow = read_with_python(path, fmt, None, delimiter)  # raises if pyarrow read a bad file
        assert repr((fast.columns, fast.line_numbers)) == repr((slow.columns, slow.line_numbers))
    assert used > 40  # the comparison ran on plenty of files


def test_python_whitespace_is_what_str_strip_removes() -> None:
    isspace = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert isspace == PYTHON_WHITESPACE


def test_whitespace_only_texts_are_empty_by_pythons_rules(tmp_path: Path) -> None:
    # \x1c-\x1f and U+0085 are whitespace to str.strip(), not to every Unicode table.
    texts = ["ok", "\x1c", " \u3000 ", "\u200b", "\x85", "a\u2028"]
    path = write(tmp_path / "d.csv", "text,label\n" + "".join(f'"{t}",x\n' for t in texts))
    examples = read_examples(path, DataConfig(drop_invalid=True))
    assert read_table(path).arrow is not None
    assert examples.texts == [t for t in texts if t.strip()]
    assert examples.dropped == 3


def test_errors_of_a_file_read_by_pyarrow_name_rows_and_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        'text,label\n"two\nlines",a\n\n"   ",b\nfine,\n',
    )
    table = read_table(path)
    assert table.arrow is not None  # read by pyarrow; the lines are found when a message needs them
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: 1 row has an empty text in column 'text': row 2 (line 5); "
            "1 row has an empty label in column 'label': row 3 (line 6)"
        ),
    ) as caught:
        table_examples(table, find_columns(table, DataConfig()), drop_invalid=False)
    assert caught.value.hint == EMPTY_HINT


def test_parquet_labels_of_every_type(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.table(
            {
                "text": ["a", "b", "c", "d", "e", "f"],
                "label": [1.0, 2.5, float("nan"), None, 1.0, 3.0],
                "flag": [True, False, True, None, False, True],
            }
        ),
        path,
    )
    examples = read_examples(path, DataConfig(drop_invalid=True))
    assert examples.labels == ["1", "2.5", "1", "3"]
    assert examples.rows == [0, 1, 4, 5]
    assert read_examples(path, DataConfig(label_column="flag", drop_invalid=True)).labels == [
        "true",
        "false",
        "true",
        "false",
        "true",
    ]


def test_labels_are_stripped_and_shared(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\na, pos\nb,pos \nc,neg\nd,pos\n")
    examples = read_examples(path, DataConfig())
    assert examples.labels == ["pos", "pos", "neg", "pos"]
    assert sorted(examples.label_names) == ["neg", "pos"]
    assert examples.label_counts() == {"neg": 1, "pos": 3}


def test_split_is_the_one_scikit_learn_makes_from_the_label_names(tmp_path: Path) -> None:
    # The split stratifies on label codes; it must be the split the label names themselves give.
    rng = random.Random(3)
    rows = [(f"text {i}", rng.choice(["zeta", "alpha", "10", "9", "beta"])) for i in range(300)]
    path = write_csv(tmp_path / "d.csv", rows)
    splits = load_splits(DataConfig(train_file=path, validation_split=0.2), seed=5)
    train_idx, val_idx = train_test_split(
        list(range(len(rows))), test_size=60, stratify=[label for _, label in rows], random_state=5
    )
    assert splits.train.texts == [rows[i][0] for i in train_idx]
    assert splits.validation.texts == [rows[i][0] for i in val_idx]
    assert splits.validation.labels == [rows[i][1] for i in val_idx]
    assert splits.validation.rows == val_idx


def test_examples_keep_arrow_and_a_selection(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", balanced_rows(4, ("a", "b")))
    examples = read_examples(path, DataConfig())
    part = examples.subset([5, 0, 2]).subset([2, 0])
    assert part.data is examples.data  # no copy of the texts
    assert part.selection is not None
    assert list(part.selection) == [2, 5]
    assert part.texts == ["a text 2", "b text 1"]
    assert part.labels == ["a", "b"]
    assert part.column("text").to_pylist() == part.texts
    assert part.where(1) == "row 6 (line 7)"
    assert np.array_equal(part.codes, examples.codes[[2, 5]])


def test_parquet_categories_and_nested_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    texts = pa.array(["good", "bad", " ", "fine"]).dictionary_encode()  # what pandas writes for categories
    labels = pa.array(["pos", "neg", "pos", None]).dictionary_encode()
    nested = pa.array([{"name": "a"}, {"name": "b"}, {"name": "a"}, {"name": "b"}])
    pq.write_table(pa.table({"text": texts, "label": labels, "meta": nested}), path)
    examples = read_examples(path, DataConfig(drop_invalid=True))
    assert (examples.texts, examples.labels, examples.rows) == (["good", "bad"], ["pos", "neg"], [0, 1])
    by_meta = read_examples(path, DataConfig(label_column="meta", drop_invalid=True))
    assert by_meta.labels == ["{'name': 'a'}", "{'name': 'b'}", "{'name': 'b'}"]
