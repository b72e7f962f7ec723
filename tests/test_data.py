"""Reading tables, finding columns, validating rows, label maps and splits (tables in tmp_path)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textfit.config import DataConfig
from textfit.data import (
    LabelSet,
    find_columns,
    label_name,
    load_splits,
    read_examples,
    read_table,
    table_format,
)
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
    with caplog.at_level(logging.WARNING, logger="textfit.data"):
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
    assert caught.value.hint == "textfit train data.csv"


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
    assert first.warnings == []
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
    assert splits.warnings == []


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


def test_duplicate_and_overlap_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train = write_csv(
        tmp_path / "train.csv",
        [("same", "a"), ("same", "a"), ("same", "a"), ("other", "b"), ("seen", "b"), ("new", "a")],
    )
    validation = write_csv(tmp_path / "val.csv", [("same", "a"), ("seen", "b"), ("unseen", "a")])
    with caplog.at_level(logging.WARNING, logger="textfit.data"):
        splits = load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)
    assert splits.warnings == [
        f"{train}: 2 training rows repeat an earlier row's text; "
        "repeats weigh more in training and can inflate validation scores",
        "2 validation texts also appear in the training data; "
        "validation scores will be optimistic (deduplicate, or split by group)",
    ]
    for warning in splits.warnings:
        assert warning in caplog.text


def test_one_duplicate_and_one_overlap(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", [("x", "a"), ("x", "a"), ("y", "b")])
    validation = write_csv(tmp_path / "val.csv", [("y", "b"), ("z", "a")])
    splits = load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)
    assert splits.warnings == [
        f"{train}: 1 training row repeats an earlier row's text; "
        "repeats weigh more in training and can inflate validation scores",
        "1 validation text also appears in the training data; "
        "validation scores will be optimistic (deduplicate, or split by group)",
    ]


def test_duplicates_in_the_training_file_overlap_after_the_split(tmp_path: Path) -> None:
    # Five copies of one text: the split puts some on each side.
    rows = [*balanced_rows(5, ("a", "b")), *[("copy", "a")] * 5]
    path = write_csv(tmp_path / "d.csv", rows)
    splits = load_splits(DataConfig(train_file=path, validation_split=0.5), seed=0)
    assert "copy" in splits.train.texts
    assert "copy" in splits.validation.texts
    assert any("1 validation text also appears in the training data" in w for w in splits.warnings)


def test_same_text_with_another_pair_is_no_duplicate(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,pair,label\nq,a1,x\nq,a2,y\nr,a3,x\ns,a4,y\n")
    validation = write(tmp_path / "val.csv", "text,pair,label\nq,a5,x\n")
    cfg = DataConfig(train_file=train, validation_file=validation, text_pair_column="pair")
    assert load_splits(cfg, seed=0).warnings == []
