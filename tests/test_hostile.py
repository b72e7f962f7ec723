"""A corpus of hostile and broken input tables, and output CSVs that a spreadsheet cannot run.

Every input in CASES ends in a DataError naming the file, the row or line, the column and a fix,
or is read with every row accounted for (kept, or dropped and counted): never a traceback, never
a row lost without a word. The files are made in tmp_path by each case; benchmarks/RESULTS.md
lists the cases and how each ends.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import textfit
from conftest import CLASS_WORDS, class_rows, read_csv, write_csv
from textfit.checks.run import check_splits
from textfit.cli.main import app
from textfit.config.schema import DataConfig
from textfit.data.rows import read_examples
from textfit.data.splits import load_splits
from textfit.errors import DataError
from textfit.inference.classifier import Classifier
from textfit.inference.files import csv_cell, predict_file

EMPTY_HINT = "fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)"
EXPORT_HINT = "export the table as CSV, TSV, JSON Lines or Parquet"
TEXT_HINT = "pass --text-column with the column that holds the texts, or store them as strings"
BIG = 10_000_000  # characters in the one long field
EMPTY_LINES = 1_000_000
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(A1:A9)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", '=HYPERLINK("x")']


@dataclass
class Case:
    """One hostile input: how to make it, how to read it, and how it must end.

    `error` (a message, `{path}` standing for the file) and `hint` for a DataError; else the rows
    read back (`texts`, `labels`), the rows dropped and counted, and a warning where one is due.
    """

    make: Callable[[Path], Path]
    error: str | None = None
    hint: str | None = None
    texts: list[str] | None = None
    labels: list[str] | None = None
    dropped: int = 0
    warning: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def text_file(name: str, content: str | bytes, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return make


def parquet_file(name: str, columns: dict[str, pa.Array]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        pq.write_table(pa.table(columns), path)
        return path

    return make


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
TWO_ROWS = "text,label\ngood day,pos\nbad day,neg\n"


def parquet_bytes() -> bytes:
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": ["a"], "label": ["x"]}), buffer)
    return bytes(buffer.getvalue().to_pybytes())


def folder(folder: Path) -> Path:
    (folder / "data.csv").mkdir()
    return folder / "data.csv"


CASES: dict[str, Case] = {
    # ---- delimiters, ragged rows, quoting
    "semicolon file, delimiter sniffed": Case(
        text_file("d.csv", "text;label\nhello, world;pos\nbad, sad;neg\n"),
        texts=["hello, world", "bad, sad"],
        labels=["pos", "neg"],
    ),
    "semicolon file read with --delimiter ','": Case(
        text_file("d.csv", "text;label\nhello;pos\nbad;neg\n"),
        error="{path}: no text column found among the usual names (text, sentence, review, message, "
        "content). Columns found: 'text;label'",
        hint="the header holds ';': pass --delimiter ';'",
        settings={"delimiter": ","},
    ),
    "tab-separated file named .csv": Case(
        text_file("d.csv", "text\tlabel\nhello, world\tpos\nbad\tneg\n"),
        texts=["hello, world", "bad"],
        labels=["pos", "neg"],
    ),
    "ragged row: too many fields": Case(
        text_file("d.csv", "text,label\ngood,pos\nbad,neg,extra\n"),
        error="{path}: 1 row does not have the 2 fields of the header: row 2 (line 3) has 3",
        hint="quote fields that contain the delimiter, or pass --delimiter if it was guessed wrong",
    ),
    "ragged row: too few fields": Case(
        text_file("d.csv", "text,label\ngood\nbad,neg\n"),
        error="{path}: 1 row does not have the 2 fields of the header: row 1 (line 2) has 1",
    ),
    "quoted newlines": Case(
        text_file("d.csv", 'text,label\n"one\ntwo\r\nthree",pos\n"say ""hi""",neg\n'),
        texts=["one\ntwo\r\nthree", 'say "hi"'],
        labels=["pos", "neg"],
    ),
    "unclosed quote": Case(
        text_file("d.csv", 'text,label\ngood,pos\n"never closed,neg\nbad,neg\n'),
        error="cannot parse {path}: the row starting at line 3 is malformed (",
        hint="check the quoting around that line (an unclosed quote swallows the lines after it)",
    ),
    # ---- bytes and encodings
    "NUL byte in a field": Case(
        text_file("d.csv", "text,label\ngood,pos\nba\x00d,neg\n"),
        error="{path}: line 3 holds a NUL byte (0x00), which no text table holds",
        hint="is it a binary file? Remove the NUL bytes, or export the table again as UTF-8 text",
    ),
    "UTF-8 BOM": Case(text_file("d.csv", "\ufeff" + TWO_ROWS), texts=["good day", "bad day"]),
    "UTF-16 LE with BOM": Case(
        text_file("d.csv", codecs.BOM_UTF16_LE + TWO_ROWS.encode("utf-16-le")), texts=["good day", "bad day"]
    ),
    "UTF-16 BE with BOM": Case(
        text_file("d.tsv", codecs.BOM_UTF16_BE + TWO_ROWS.replace(",", "\t").encode("utf-16-be")),
        texts=["good day", "bad day"],
    ),
    "UTF-16 LE without BOM": Case(
        text_file("d.csv", TWO_ROWS.encode("utf-16-le")),
        error="{path} looks like UTF-16 text without a byte-order mark (a NUL byte beside each letter)",
        hint="pass --encoding utf-16-le, or re-save the file as UTF-8",
    ),
    "latin-1 byte in a UTF-8 file": Case(
        text_file("d.csv", b"text,label\nna\xc3\xafve,pos\ncaf\xe9,neg\n"),
        error="cannot read {path} as UTF-8 (invalid byte 0xe9 in line 3)",
        hint="re-save the file as UTF-8, or pass --encoding latin-1 (or the file's encoding)",
    ),
    # ---- sizes
    "10 MB single field": Case(
        text_file("d.csv", "text,label\n" + "x" * BIG + ",pos\nshort,neg\n"),
        texts=["x" * BIG, "short"],
        labels=["pos", "neg"],
    ),
    "1 M empty lines between two rows": Case(
        text_file("d.csv", "text,label\ngood,pos\n" + "\n" * EMPTY_LINES + "bad,neg\n"),
        texts=["good", "bad"],
        labels=["pos", "neg"],
    ),
    "1 M empty lines and no row": Case(
        text_file("d.csv", "text,label\n" + "\n" * EMPTY_LINES),
        error="{path} has no data rows",
        hint="a table needs a header row and data rows",
    ),
    "1 M empty lines in JSON Lines": Case(
        text_file("d.jsonl", "\n" * EMPTY_LINES + '{"text": "good", "label": "pos"}\n'),
        texts=["good"],
        labels=["pos"],
    ),
    # ---- cells and labels
    "formula-looking cells are data": Case(
        text_file(
            "d.csv",
            "text,label\n" + "".join(f'"{t.replace(chr(34), chr(34) * 2)}",=x\n' for t in FORMULAS),
        ),
        texts=FORMULAS,
        labels=["=x"] * len(FORMULAS),
    ),
    "labels: numbers in some rows, words in others": Case(
        text_file("d.csv", "text,label\na,1\nb,positive\nc,1\nd,positive\ne,0\n"),
        labels=["1", "positive", "1", "positive", "0"],
        warning="the labels mix numbers and words: '0' (1), '1' (2) beside 'positive' (2) (rows per label)",
    ),
    'JSON labels 1 and "1" are one label': Case(
        text_file(
            "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "1"}\n{"text": "c", "label": 2}\n'
        ),
        labels=["1", "1", "2"],
    ),
    "empty texts with --drop-invalid": Case(
        text_file("d.csv", "text,label\ngood,pos\n  ,neg\nbad,\nfine,neg\n"),
        texts=["good", "fine"],
        dropped=2,
        settings={"drop_invalid": True},
    ),
    "whitespace-only label": Case(
        text_file("d.csv", "text,label\ngood,pos\nbad, \t \n"),
        error="{path}: 1 row has an empty label in column 'label': row 2 (line 3)",
        hint=EMPTY_HINT,
    ),
    # ---- Parquet with the wrong types
    "Parquet: int text column": Case(
        parquet_file("d.parquet", {"text": pa.array([1, 2]), "label": pa.array(["a", "b"])}),
        error="{path}: column 'text' holds int64 values, not texts",
        hint=TEXT_HINT,
    ),
    "Parquet: list text column": Case(
        parquet_file("d.parquet", {"text": pa.array([["a", "b"], ["c"]]), "label": pa.array(["a", "b"])}),
        error="{path}: column 'text' holds list<element: string> values, not texts",
    ),
    "Parquet: struct text column": Case(
        parquet_file(
            "d.parquet", {"text": pa.array([{"t": "a"}, {"t": "b"}]), "label": pa.array(["a", "b"])}
        ),
        error="{path}: column 'text' holds struct<t: string> values, not texts",
    ),
    "Parquet: bytes text column": Case(
        parquet_file("d.parquet", {"text": pa.array([b"a", b"b"]), "label": pa.array(["a", "b"])}),
        error="{path}: column 'text' holds binary values, not texts",
    ),
    "Parquet: null-only text column": Case(
        parquet_file("d.parquet", {"text": pa.nulls(2), "label": pa.array(["a", "b"])}),
        error="{path}: 2 rows have an empty text in column 'text': row 1, row 2",
        hint=EMPTY_HINT,
    ),
    "Parquet: null-only text column with --drop-invalid": Case(
        parquet_file("d.parquet", {"text": pa.nulls(2), "label": pa.array(["a", "b"])}),
        error="{path}: no usable rows left",
        hint="every row had an empty field",
        settings={"drop_invalid": True},
    ),
    "Parquet: null-only label column": Case(
        parquet_file("d.parquet", {"text": pa.array(["a", "b"]), "label": pa.nulls(2)}),
        error="{path}: 2 rows have an empty label in column 'label': row 1, row 2",
    ),
    # ---- JSON Lines
    "JSON Lines: a broken line": Case(
        text_file("d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n'),
        error="{path}: line 2 is not valid JSON (Expecting value)",
        hint="each line of a JSON Lines file must be one JSON object",
    ),
    "JSON Lines: a line that is no object": Case(
        text_file("d.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n'),
        error="{path}: line 2 is not a JSON object (it is an array)",
        hint='each line of a JSON Lines file must be one JSON object: {"text": ..., "label": ...}',
    ),
    "JSON Lines: mixed keys": Case(
        text_file(
            "d.jsonl",
            '{"text": "a", "label": "x"}\n{"body": "b", "label": "y"}\n{"text": "c", "label": "y"}\n',
        ),
        error="{path}: 1 row has an empty text in column 'text': row 2 (line 2)",
        hint=EMPTY_HINT,
    ),
    "JSON Lines: mixed keys with --drop-invalid": Case(
        text_file(
            "d.jsonl",
            '{"text": "a", "label": "x"}\n{"body": "b", "label": "y"}\n{"text": "c", "label": "y"}\n',
        ),
        texts=["a", "c"],
        dropped=1,
        settings={"drop_invalid": True},
    ),
    "JSON Lines: numbers and lists as texts": Case(
        text_file(
            "d.jsonl",
            '{"text": "a", "label": "x"}\n{"text": 42, "label": "y"}\n{"text": ["c"], "label": "y"}\n',
        ),
        error="{path}: 2 rows have a value that is not text in column 'text': row 2 (line 2) has 42, "
        "row 3 (line 3) has ['c']",
        hint=TEXT_HINT + " (in JSON: in quotes)",
    ),
    # ---- not a table at all
    "empty file": Case(
        text_file("d.csv", ""), error="{path} is empty", hint="a table needs a header row and data rows"
    ),
    "header only": Case(text_file("d.csv", "text,label\n"), error="{path} has no data rows"),
    "zip (an .xlsx) renamed .csv": Case(
        text_file("d.csv", zip_bytes()),
        error="{path} is a zip archive (an .xlsx workbook is one), not a text table",
        hint="extract it, or " + EXPORT_HINT,
    ),
    "PNG renamed .csv": Case(
        text_file("d.csv", PNG), error="{path} is a PNG image, not a text table", hint=EXPORT_HINT
    ),
    "gzip renamed .csv": Case(
        text_file("d.csv", gzip.compress(TWO_ROWS.encode())),
        error="{path} is a gzip archive, not a text table",
        hint="decompress it first (gunzip)",
    ),
    "Parquet renamed .csv": Case(
        text_file("d.csv", parquet_bytes()),
        error="{path} is a Parquet file, not a text table",
        hint="pass --format parquet, or name it .parquet",
    ),
    "CSV renamed .parquet": Case(
        text_file("d.parquet", TWO_ROWS),
        error="cannot read {path} as Parquet: ",
        hint="if it is a CSV, TSV or JSON Lines file, give it that extension or pass --format",
    ),
    "a folder passed as the file": Case(
        folder,
        error="{path} is not a file",
        hint="check the path (relative paths start from the current folder)",
    ),
    "a missing file": Case(lambda folder: folder / "nowhere.csv", error="{path} does not exist"),
}
ERRORS = [name for name, case in CASES.items() if case.error is not None]


def test_the_corpus_holds_every_kind_of_hostile_input() -> None:
    # The count benchmarks/RESULTS.md reports; each case ends in one of the two ways.
    assert len(CASES) == 43
    assert len(ERRORS) == 29


@pytest.mark.parametrize("name", CASES)
def test_hostile_input_ends_in_a_clear_error_or_a_counted_skip(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    cfg = DataConfig(**case.settings)
    if case.error is not None:
        with pytest.raises(DataError, match=re.escape(case.error.format(path=path))) as caught:
            read_examples(path, cfg)
        assert caught.value.hint, "every error says how to fix it"
        if case.hint is not None:
            assert caught.value.hint == case.hint
        return
    examples = read_examples(path, cfg)
    if case.texts is not None:
        assert examples.texts == case.texts
    if case.labels is not None:
        assert examples.labels == case.labels
    assert examples.dropped == case.dropped
    if case.dropped:
        rows = "1 row" if case.dropped == 1 else f"{case.dropped} rows"
        assert f"{path}: dropped {rows} with an empty text or label" in caplog.text
    assert examples.table is not None
    assert len(examples) + examples.dropped == len(examples.table)  # every row kept or counted
    if case.warning is not None:
        splits = load_splits(DataConfig(train_file=path, validation_file=path, **case.settings), seed=0)
        assert f"{path}: {case.warning}" in check_splits(splits).warnings[0]


def test_rows_after_a_million_empty_lines_keep_their_line_numbers(tmp_path: Path) -> None:
    path = CASES["1 M empty lines between two rows"].make(tmp_path)
    assert read_examples(path, DataConfig()).where(1) == f"row 2 (line {EMPTY_LINES + 3})"


def test_mixed_label_warning_lists_at_most_five_of_each(tmp_path: Path) -> None:
    rows = "".join(f"t{i},{i}\n" for i in range(7)) + "".join(f"w{i},word{i}\n" for i in range(2))
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + rows, encoding="utf-8")
    splits = load_splits(DataConfig(train_file=path, validation_file=path), seed=0)
    assert check_splits(splits).warnings[0] == (
        f"{path}: the labels mix numbers and words: '0' (1), '1' (1), '2' (1), '3' (1), '4' (1) "
        "and 2 more beside 'word0' (1), 'word1' (1) (rows per label); "
        "if a number stands for a word, use one or the other"
    )


def test_a_utf16_file_given_its_encoding_may_hold_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(TWO_ROWS.encode("utf-16-le"))
    assert read_examples(path, DataConfig(encoding="utf-16-le")).texts == ["good day", "bad day"]


def test_a_big_endian_utf16_file_without_bom_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(TWO_ROWS.encode("utf-16-be"))
    with pytest.raises(DataError, match=re.escape("without a byte-order mark")) as caught:
        read_examples(path, DataConfig())
    assert caught.value.hint == "pass --encoding utf-16-be, or re-save the file as UTF-8"


# ---------------------------------------------------------------- the same through the command line


runner = CliRunner()


def cli_flags(settings: dict[str, Any]) -> list[str]:
    flags = []
    if "delimiter" in settings:
        flags += ["--delimiter", settings["delimiter"]]
    if settings.get("drop_invalid"):
        flags.append("--drop-invalid")
    return flags


@pytest.mark.parametrize("name", ERRORS)
def test_hostile_input_through_the_cli_is_an_error_line_not_a_traceback(
    tmp_path: Path, tiny_model_dir: Path, name: str
) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    flags = cli_flags(case.settings)
    result = runner.invoke(
        app,
        ["train", str(path), "--model", str(tiny_model_dir), "-o", str(tmp_path / "run"), "--quiet", *flags],
    )
    assert isinstance(result.exception, SystemExit), result.exception  # no exception escaped
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: {case.error.format(path=path)}" in result.stderr  # type: ignore[union-attr]
    assert [line.split(":")[0] for line in result.stderr.splitlines()][-2:] == ["error", "hint"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.subprocess
def test_a_binary_file_in_a_real_process_exits_1_without_a_traceback(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = CASES["PNG renamed .csv"].make(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "textfit", "train", str(path), "--model", str(tiny_model_dir), "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {path} is a PNG image, not a text table\nhint: {EXPORT_HINT}\n"


# ---------------------------------------------------------------- output CSVs a spreadsheet cannot run


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("+", "'+"),
        ("-2", "-2"),  # a number: a spreadsheet runs nothing, and the sign stays
        ("+1.5", "+1.5"),
        ("-.5e-3", "-.5e-3"),
        ("-1e5x", "'-1e5x"),
        ("- 2", "'- 2"),
        ("-inf", "'-inf"),
        ("plain", "plain"),
        (" =1", " =1"),  # a leading space makes it text to a spreadsheet
        (-2, -2),
        (-2.5, -2.5),
        (None, None),
        ([["pos", 0.9]], '[["pos", 0.9]]'),
    ],
)
def test_csv_cell(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell


@pytest.fixture(scope="module")
def classifier(tiny_run_dir: Path) -> Classifier:
    return Classifier.load(tiny_run_dir, precision="fp32")


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_predictions_written_as_csv_or_tsv_run_nothing(
    tiny_run_dir: Path, classifier: Classifier, tmp_path: Path, suffix: str
) -> None:
    records = [
        {'=HYPERLINK("http://x")': "=cmd|' /C calc'!A0", "text": "=good great", "amount": -2},
        {'=HYPERLINK("http://x")': "@SUM(A1)", "text": "-awful sad", "amount": 3.5},
    ]
    input_file = tmp_path / "input.jsonl"
    input_file.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    output = tmp_path / f"predictions{suffix}"

    predict_file(tiny_run_dir, str(input_file), str(output), classifier=classifier)

    text = output.read_text(encoding="utf-8")
    delimiter = "\t" if suffix == ".tsv" else ","
    cells = [cell for line in text.splitlines() for cell in line.split(delimiter)]
    assert not [cell for cell in cells if cell.lstrip('"')[:1] in ("=", "+", "@")]
    rows = read_csv(output) if suffix == ".csv" else None
    if rows is not None:
        assert next(iter(rows[0])) == '\'=HYPERLINK("http://x")'
        assert [row["text"] for row in rows] == ["'=good great", "'-awful sad"]
        assert [row["amount"] for row in rows] == ["-2", "3.5"], "numbers are not mangled"
        # the model saw the texts as they are, not as written for a spreadsheet
        expected = classifier.predict(["=good great", "-awful sad"])
        assert [row["predicted_label"] for row in rows] == [p.label for p in expected]


# ---- issue 18 item 7: texts that Classifier.predict, predict_file and serve cannot classify


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
@pytest.mark.parametrize(
    ("texts", "error"),
    [
        ([None], "texts[0] is None"),
        ([""], "texts[0] is empty"),
        (["good", " \t\n"], "texts[1] is whitespace only"),
        ([float("nan")], "texts[0] is nan (float)"),
    ],
)
def test_issue18_predict_names_the_position_of_a_text_it_cannot_classify(
    classifier: Classifier, method: str, texts: list[Any], error: str
) -> None:
    with pytest.raises(DataError) as err:
        getattr(classifier, method)(texts)

    assert err.value.message == f"{error}; every text must be a string with at least one visible character"
    assert err.value.hint is not None
    assert "fill in or drop these texts" in err.value.hint


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_issue18_a_single_string_is_refused_by_the_method_called(classifier: Classifier, method: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"pass a list of texts, e.g. {method}([text])")):
        getattr(classifier, method)("good great")


def test_issue18_no_texts_give_no_predictions(classifier: Classifier) -> None:
    assert classifier.predict([]) == []
    assert classifier.predict_proba([]).shape == (0, len(classifier.labels))


def test_issue18_a_text_without_a_prediction_is_null_in_json_lines_and_empty_in_csv(
    tiny_run_dir: Path, classifier: Classifier, tmp_path: Path
) -> None:
    records = [{"text": "good great"}, {"text": None}, {"text": ""}, {"text": "  "}]
    input_file = tmp_path / "input.jsonl"
    input_file.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    predict_file(tiny_run_dir, str(input_file), str(tmp_path / "out.jsonl"), classifier=classifier)
    predict_file(tiny_run_dir, str(input_file), str(tmp_path / "out.csv"), classifier=classifier)

    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["predicted_label"] == "positive"
    assert isinstance(rows[0]["predicted_probability"], float)
    for row in rows[1:]:
        assert (row["predicted_label"], row["predicted_probability"], row["top_k"]) == (None, None, None)
    csv_rows = read_csv(tmp_path / "out.csv")
    assert [(r["predicted_label"], r["predicted_probability"], r["top_k"]) for r in csv_rows[1:]] == [
        ("", "", "")
    ] * 3


def test_issue18_serve_asks_for_json_and_refuses_empty_texts(classifier: Classifier) -> None:
    from fastapi.testclient import TestClient

    from textfit.serve.app import create_app

    with TestClient(create_app(classifier)) as client:
        plain = client.post("/predict", content=b"good great", headers={"Content-Type": "text/plain"})
        empty = client.post("/predict", json={"texts": ["good", " "]})
        none = client.post("/predict", json={"texts": []})

    assert plain.status_code == 415
    assert plain.json()["error"] == (
        "the request body must be JSON, sent with Content-Type: application/json (not text/plain)"
    )
    assert (empty.status_code, empty.json()["error"]) == (422, "text 1 is empty")
    assert (none.status_code, none.json()) == (200, {"predictions": []})


# ---- issue 18 item 3: a run whose tokenizer does not fit its model


def _tiny_rows() -> int:
    """The rows of the tiny model's embedding matrix."""
    from conftest import SPECIAL_TOKENS, VOCAB_WORDS

    return len(SPECIAL_TOKENS) + len(VOCAB_WORDS)


def _run_without(tiny_run_dir: Path, tmp_path: Path, *names: str) -> Path:
    """A copy of the shared tiny run, its model folder without the named files."""
    import shutil

    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    for name in names:
        (run_dir / "model" / name).unlink(missing_ok=True)
    return run_dir


def _other_tokenizer(folder: Path, words: list[str]) -> None:
    """Save into folder the tokenizer of another model: WordPiece over the special tokens and words."""
    from transformers import BertTokenizerFast

    from conftest import SPECIAL_TOKENS

    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *words])}
    BertTokenizerFast(vocab=vocab, do_lower_case=True).save_pretrained(folder)


def _tokenizer_fix(tiny_model_dir: Path, run_dir: Path) -> str:
    return (
        "save the tokenizer of the model it was trained from into it: "
        f"AutoTokenizer.from_pretrained({str(tiny_model_dir)!r}, model_max_length=16)"
        f".save_pretrained({str(run_dir / 'model')!r}); or train it again"
    )


def test_a_run_without_tokenizer_json_is_refused_and_the_hint_repairs_it(
    tiny_run_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from textfit.errors import ModelError

    run_dir = _run_without(tiny_run_dir, tmp_path, "tokenizer.json")
    assert (run_dir / "model" / "tokenizer_config.json").is_file()  # from which transformers builds 5 tokens
    with pytest.raises(
        ModelError,
        match=re.escape(
            f"{run_dir / 'model'} has no tokenizer files (tokenizer.json, or a slow tokenizer's vocab.txt "
            "or sentencepiece model)"
        ),
    ) as err:
        Classifier.load(run_dir)
    assert err.value.hint == _tokenizer_fix(tiny_model_dir, run_dir)

    # what the hint says (16: the shared run's max_length)
    AutoTokenizer.from_pretrained(tiny_model_dir, model_max_length=16).save_pretrained(run_dir / "model")
    repaired = Classifier.load(run_dir, precision="fp32").predict(["good great lovely", "bad awful sad"])
    assert [p.label for p in repaired] == ["positive", "negative"]


@pytest.mark.parametrize(
    ("words", "tokens", "effect"),
    [
        (["good", "bad"], 7, "fewer than half: not this model's tokenizer"),
        ([f"word{i}" for i in range(60)], 65, "ids past the last row have no embedding"),
    ],
    ids=["fewer than half the rows", "more tokens than rows"],
)
def test_the_tokenizer_of_another_model_is_refused(
    tiny_run_dir: Path, tmp_path: Path, words: list[str], tokens: int, effect: str
) -> None:
    from textfit.errors import ModelError

    run_dir = _run_without(tiny_run_dir, tmp_path)
    _other_tokenizer(run_dir / "model", words)
    with pytest.raises(ModelError) as err:
        Classifier.load(run_dir)
    assert err.value.message == (
        f"the tokenizer in {run_dir / 'model'} does not fit its model: {tokens} tokens against "
        f"{_tiny_rows()} rows of the model's embedding matrix ({effect})"
    )
    assert "or train it again" in str(err.value.hint)


def test_a_slow_vocabulary_of_another_model_names_the_missing_tokenizer_json(
    tiny_run_dir: Path, tmp_path: Path
) -> None:
    from textfit.errors import ModelError

    run_dir = _run_without(tiny_run_dir, tmp_path, "tokenizer.json")
    (run_dir / "model" / "vocab.txt").write_text(
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngood\n", encoding="utf-8"
    )
    with pytest.raises(ModelError) as err:
        Classifier.load(run_dir)
    assert err.value.message.endswith(
        f"does not fit its model: 6 tokens against {_tiny_rows()} rows of the model's embedding matrix "
        "(fewer than half: not this model's tokenizer); it lacks tokenizer.json"
    )


def _no_server(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("textfit serve started a server with a broken tokenizer")


@pytest.mark.parametrize("damage", ["no tokenizer.json", "another model's tokenizer"])
@pytest.mark.parametrize("command", ["predict", "evaluate", "serve", "export"])
def test_every_command_that_loads_a_run_refuses_a_tokenizer_that_does_not_fit(
    tiny_run_dir: Path,
    binary_test_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    damage: str,
) -> None:
    import textfit.serve.app

    monkeypatch.setattr(textfit.serve.app, "serve", _no_server)
    run_dir = _run_without(tiny_run_dir, tmp_path, "tokenizer.json")
    if damage == "another model's tokenizer":
        _other_tokenizer(run_dir / "model", ["good", "bad"])
    args = {
        "predict": ["predict", str(run_dir), "--text", "WINNER claim prize"],
        "evaluate": ["evaluate", str(run_dir), str(binary_test_csv)],
        "serve": ["serve", str(run_dir)],
        "export": ["export", str(run_dir), "--format", "onnx", "--check", str(binary_test_csv)],
    }[command]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1
    assert result.stdout == ""
    error, hint = result.stderr.splitlines()[-2:]
    expected = (
        "has no tokenizer files (tokenizer.json"
        if damage == "no tokenizer.json"
        else "does not fit its model"
    )
    assert error.startswith(f"error: {run_dir / 'model'} ") or error.startswith(
        f"error: the tokenizer in {run_dir / 'model'} "
    )
    assert expected in error
    assert hint.startswith("hint: save the tokenizer of the model it was trained from into it")
    assert not (run_dir / "onnx").exists()


def test_serving_an_onnx_export_refuses_a_tokenizer_that_does_not_fit(
    tiny_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textfit.serve.app

    monkeypatch.setattr(textfit.serve.app, "serve", _no_server)
    run_dir = _run_without(tiny_run_dir, tmp_path)
    _other_tokenizer(run_dir / "model", ["good", "bad"])
    (run_dir / "onnx").mkdir()  # an export that passed its check: the tokenizer is refused before it is read
    (run_dir / "onnx" / "check.json").write_text(json.dumps({"checks": [{"model": "fp32", "passed": True}]}))
    result = CliRunner().invoke(app, ["serve", str(run_dir), "--backend", "onnx"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: the tokenizer in {run_dir / 'model'} does not fit its model: 7 tokens" in result.stderr


def test_training_from_a_model_folder_without_its_tokenizer_is_refused(
    tiny_model_dir: Path, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    import shutil

    from textfit import train
    from textfit.errors import ModelError

    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "base"))
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelError) as err:
        train(
            train_file=binary_csv,
            output_dir=tmp_path / "out",
            progress=False,
            **{**tiny_settings, "model": str(model_dir)},
        )
    assert err.value.message == (
        f"the tokenizer in {model_dir} does not fit its model: 5 tokens against {_tiny_rows()} rows of the "
        "model's embedding matrix (fewer than half: not this model's tokenizer); it lacks tokenizer.json "
        "and vocab.txt"
    )
    assert err.value.hint == (
        "save the tokenizer of the model the folder was made from into it: "
        f"AutoTokenizer.from_pretrained(BASE_MODEL).save_pretrained({str(model_dir)!r}); "
        "or pick another model"
    )
    assert not (tmp_path / "out").exists()


def test_pushing_a_run_without_tokenizer_json_is_refused_before_any_request(
    tiny_run_dir: Path, tmp_path: Path
) -> None:
    from textfit.errors import ModelError
    from textfit.push import push_run

    run_dir = _run_without(tiny_run_dir, tmp_path, "tokenizer.json")
    with pytest.raises(
        ModelError, match=re.escape(f"{run_dir / 'model'} has no tokenizer files (tokenizer.json")
    ):
        push_run(run_dir, "someone/broken", token="hf_not_used", endpoint=_closed_port())


# ---- issue 18 item 5: an unreachable Hub costs seconds, not a minute of retries

SNAPSHOT_SHA = "0123456789abcdef0123456789abcdef01234567"
MODEL_HINT = "pass a local model folder with --model PATH, or one of the presets: minilm, mpnet"


def _closed_port() -> str:
    """The address of a loopback port nothing listens on: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _online(tmp_path: Path) -> dict[str, str]:
    """A fresh process's environment: no HF_HUB_OFFLINE, the Hub at a closed port, the cache in tmp_path."""
    src = Path(__file__).parents[1] / "src"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE"))}
    return {**base, "PYTHONPATH": str(src), "HF_HOME": str(tmp_path / "home"), "HF_ENDPOINT": _closed_port()}


@pytest.mark.subprocess
def test_training_from_an_unreachable_hub_fails_in_seconds(binary_csv: Path, tmp_path: Path) -> None:
    # Not timed (benchmarks/RESULTS.md section 5 gives the seconds): the Hub client logs each retry.
    command = [
        "train",
        str(binary_csv),
        "--model",
        "some-org/some-model",
        "--output-dir",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "textfit", *command],
        env=_online(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-2:] == [
        "error: cannot load model 'some-org/some-model': no such folder, and it could not be downloaded "
        "(offline?)",
        f"hint: {MODEL_HINT}",
    ]
    assert "Retrying" not in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.subprocess
def test_a_model_in_the_hub_cache_loads_while_the_hub_is_unreachable(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    storage = tmp_path / "home" / "hub" / "models--some-org--tiny-bert"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(SNAPSHOT_SHA, encoding="utf-8")
    shutil.copytree(tiny_model_dir, storage / "snapshots" / SNAPSHOT_SHA)
    code = (
        "from textfit.config.schema import ModelConfig\n"
        "from textfit.modeling import load_pretrained\n"
        "cfg = ModelConfig(name='some-org/tiny-bert', max_length=16)\n"
        "tokenizer, model = load_pretrained(cfg, {0: 'no', 1: 'yes'}, {'no': 0, 'yes': 1})\n"
        "print(tokenizer('good bad')['input_ids'], model.config.id2label)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_online(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_model_dir)("good bad")["input_ids"]
    assert done.stdout.strip() == f"{ids} {{0: 'no', 1: 'yes'}}", done.stderr
    assert "Retrying" not in done.stderr


def test_the_hub_probe_tells_an_open_port_from_a_closed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from huggingface_hub import constants

    from textfit.hub import cache_only, hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listening.getsockname()[1]}")
        assert hub_reachable()
        assert not cache_only("some-org/some-model")  # a reachable Hub is asked, as before
    monkeypatch.setattr(constants, "ENDPOINT", _closed_port())
    assert not hub_reachable()
    assert cache_only("some-org/some-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_reachable()  # offline mode: no probe


# ---- issue 18 item 4: labels that differ only in case, spacing or number format


def label_csv(path: Path, labels: list[str]) -> Path:
    """A CSV of texts (distinct in each file) with these labels, written as given: spaces, case and all."""
    rows = "".join(f"{path.stem} text {i},{label}\n" for i, label in enumerate(labels))
    path.write_text("text,label\n" + rows, encoding="utf-8")
    return path


SPELLINGS = ["spam"] * 8 + ["Spam"] * 2 + ["ham"] * 8 + ["no spam"] * 6 + ["no  spam"] * 2
NUMBERS = ["1"] * 3 + ["1.0"] * 5 + ["2"] * 8


@pytest.mark.parametrize(
    ("labels", "warning"),
    [
        (
            SPELLINGS,
            "labels that differ only in case, spacing or number format: 'Spam' (2) and 'spam' (8); "
            "'no  spam' (2) and 'no spam' (6) (rows per label); each is a class of its own: to merge them, "
            "--label-map 'Spam=spam,no  spam=no spam'",
        ),
        (
            NUMBERS,
            "labels that differ only in case, spacing or number format: '1' (3) and '1.0' (5) "
            "(rows per label); each is a class of its own: to merge them, --label-map 1=1.0",
        ),
    ],
    ids=["case and spacing", "number format"],
)
def test_labels_that_differ_only_in_spelling_warn_with_their_rows_and_the_flag(
    tmp_path: Path, labels: list[str], warning: str
) -> None:
    path = label_csv(tmp_path / "d.csv", labels)
    splits = load_splits(DataConfig(train_file=path, validation_split=0.5), seed=0)

    assert len(splits.train.label_names) == len(set(labels)), "not merged without being asked"
    labels_check = next(check for check in check_splits(splits).checks if check.name == "labels")
    assert labels_check.status == "warn"
    assert labels_check.summary == warning
    flag = warning.split("to merge them, ")[1]
    assert (
        labels_check.hint == f"{flag} reads each as its most frequent spelling; or fix the labels in the file"
    )


def test_the_label_map_merges_spellings_in_the_training_validation_and_test_files(tmp_path: Path) -> None:
    train = label_csv(tmp_path / "train.csv", SPELLINGS)
    validation = label_csv(tmp_path / "dev.csv", ["Spam", "ham", "no spam", "spam"])
    test = label_csv(tmp_path / "test.csv", ["SPAM", "ham", "no  spam"])
    label_map = "Spam=spam, SPAM = spam,no  spam=no spam"
    cfg = DataConfig(train_file=train, validation_file=validation, test_file=test, label_map=label_map)

    splits = load_splits(cfg, seed=0)

    assert cfg.label_map == {"Spam": "spam", "SPAM": "spam", "no  spam": "no spam"}
    assert splits.train.label_counts() == {"spam": 10, "ham": 8, "no spam": 8}
    assert splits.validation.labels == ["spam", "ham", "no spam", "spam"]
    assert splits.test is not None
    assert splits.test.labels == ["spam", "ham", "no spam"]
    assert (splits.train.mapped, splits.test.mapped) == (
        {"Spam": 2, "no  spam": 2},
        {"SPAM": 1, "no  spam": 1},
    )
    labels_check = next(check for check in check_splits(splits).checks if check.name == "labels")
    assert labels_check.status == "pass"
    assert labels_check.summary == "3 labels: ham 8, no spam 8, spam 10"


def test_a_label_map_name_that_no_row_has_is_an_error(tmp_path: Path) -> None:
    path = label_csv(tmp_path / "d.csv", SPELLINGS)

    with pytest.raises(DataError) as caught:
        load_splits(
            DataConfig(train_file=path, label_map="Spam=spam,Spma=spam", validation_split=0.5), seed=0
        )

    assert caught.value.message == (
        f"--label-map (data.label_map) renames 1 label that no row of {path} has: 'Spma'.\n"
        "  Labels found: 'Spam', 'ham', 'no  spam', 'no spam', 'spam'"
    )
    assert caught.value.hint == (
        "fix the spelling of these names (labels are compared after surrounding spaces are removed), "
        "or leave them out"
    )


def test_label_map_text_that_is_not_old_equals_new_is_a_config_error() -> None:
    from textfit.config.loading import load_config
    from textfit.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape("'Spam' is not OLD=NEW (e.g. 'Spam=spam,1.0=1')")):
        load_config(None, {"data.label_map": "Spam,1.0=1"})
    with pytest.raises(ConfigError, match=re.escape("an empty label name in 'Spam': ''")):
        load_config(None, {"data.label_map": "Spam="})


def test_labels_with_surrounding_spaces_are_merged_and_said(tmp_path: Path) -> None:
    path = label_csv(tmp_path / "d.csv", ["spam"] * 6 + ["spam "] * 3 + ["\tham"] * 2 + ["ham"] * 6)
    splits = load_splits(DataConfig(train_file=path, validation_split=0.25), seed=0)

    assert sorted(splits.train.label_names) == ["ham", "spam"]
    labels_check = next(check for check in check_splits(splits).checks if check.name == "labels")
    assert labels_check.status == "warn"
    assert labels_check.summary == (
        f"{path}: 5 label cells had surrounding spaces removed, each read as the label without them: "
        "'spam ' (3), '\\tham' (2) (rows per cell)"
    )
    assert labels_check.data["stripped"] == {str(path): {"spam ": 3, "\tham": 2}}


def test_a_validation_label_in_another_spelling_is_named_with_the_flag_that_merges_it(
    tmp_path: Path,
) -> None:
    train = label_csv(tmp_path / "train.csv", ["spam", "ham"] * 4)
    validation = label_csv(tmp_path / "dev.csv", ["Spam", "ham", "eggs"])

    with pytest.raises(DataError, match=re.escape("row 1 (line 2) has label 'Spam'")) as caught:
        load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)

    assert caught.value.hint == (
        "--label-map Spam=spam reads 'Spam' as 'spam' (labels that differ only in case, spacing or "
        "number format); or fix those labels, or retrain with them in the training file"
    )


def test_label_map_flag_of_check_train_and_evaluate_is_saved_with_the_run(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import yaml

    from conftest import CLASS_WORDS, class_rows, write_csv

    rows = class_rows(CLASS_WORDS, 24)
    first = next(iter(CLASS_WORDS))
    for row in [row for row in rows if row["label"] == first][:4]:  # four rows of one label in capitals
        row["label"] = first.upper()
    train_file = write_csv(tmp_path / "train.csv", rows)
    upper = first.upper()
    flag = f"{upper}={upper.lower()}"
    model = ["--model", str(tiny_model_dir), "--max-length", "16"]

    warned = runner.invoke(app, ["check", str(train_file), *model])
    checked = runner.invoke(app, ["check", str(train_file), *model, "--label-map", flag])
    run = tmp_path / "run"
    trained = runner.invoke(
        app,
        ["train", str(train_file), *model, "--label-map", flag, "--epochs", "1", "-o", str(run), "--quiet"],
    )
    evaluated = runner.invoke(app, ["evaluate", str(run), str(train_file), "--json", "--no-report"])
    misspelt = runner.invoke(app, ["evaluate", str(run), str(train_file), "--label-map", "Hma=ham"])

    assert warned.exit_code == 0
    assert f"to merge them, --label-map {flag}" in warned.stdout
    assert checked.exit_code == 0, checked.stdout
    assert "WARN" not in checked.stdout
    assert "2 labels" in checked.stdout
    assert (
        f"next: textfit train {train_file} --model {tiny_model_dir} --max-length 16 --label-map {flag}"
        in (checked.stdout)
    )
    assert trained.exit_code == 0, trained.stderr
    saved = yaml.safe_load((run / "run_config.yaml").read_text(encoding="utf-8"))
    assert saved["data"]["label_map"] == {upper: upper.lower()}
    assert sorted(
        json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))["label2id"]
    ) == sorted(CLASS_WORDS)
    assert evaluated.exit_code == 0, evaluated.stderr  # the run's map reads the capitals
    assert json.loads(evaluated.stdout)["samples"] == len(rows)
    assert misspelt.exit_code == 1
    assert misspelt.stdout == ""
    assert "error: --label-map (data.label_map) renames 1 label that no row of" in misspelt.stderr
    assert "has: 'Hma'." in misspelt.stderr


# ---- issue 18 item 7: check's reading of a text column of numbers, capped token counts, pair columns


def test_a_parquet_text_column_of_numbers_fails_once_under_columns(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from textfit.checks.base import format_checks
    from textfit.checks.run import check_data
    from textfit.config.schema import ModelConfig, RunConfig

    path = parquet_file("d.parquet", {"text": pa.array(range(10)), "label": pa.array(["a", "b"] * 5)})(
        tmp_path
    )
    cfg = RunConfig(data=DataConfig(train_file=path), model=ModelConfig(name=str(tiny_model_dir)))

    report = check_data(cfg)

    assert [(check.name, check.status) for check in report.checks] == [("columns", "fail")]
    assert report.checks[0].summary == f"{path}: column 'text' holds int64 values, not texts"
    assert report.checks[0].hint == TEXT_HINT
    assert format_checks(report).splitlines()[-1] == "0 passed, 0 warnings, 1 failure"


def test_a_text_longer_than_check_counts_says_at_least(tmp_path: Path, tiny_model_dir: Path) -> None:
    from conftest import CLASS_WORDS, class_rows, write_csv
    from textfit.checks.base import LENGTH_LIMIT
    from textfit.checks.run import check_data
    from textfit.config.schema import ModelConfig, RunConfig

    rows = class_rows(CLASS_WORDS, 12)
    rows[0]["text"] = " ".join([rows[0]["text"]] * 5000)  # some 20,000 words
    rows[1]["text"] = " ".join([rows[1]["text"]] * 5000)
    path = write_csv(tmp_path / "d.csv", rows)
    cfg = RunConfig(
        data=DataConfig(train_file=path), model=ModelConfig(name=str(tiny_model_dir), max_length=16)
    )

    length = next(check for check in check_data(cfg).checks if check.name == "length")

    assert LENGTH_LIMIT == 8192
    assert length.summary == "9.5% of training texts are longer than 16 tokens and will be cut"
    assert length.details[0].endswith("longest at least 8,192 tokens")
    assert length.data["counted_up_to"] == 8192


def test_a_file_with_sentence1_and_sentence2_columns_is_read_as_pairs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tiny_model_dir: Path
) -> None:
    import logging

    from conftest import pair_rows, write_csv
    from textfit.checks.run import check_data
    from textfit.config.schema import ModelConfig, RunConfig
    from textfit.data.examples import PAIR_COLUMNS

    def pairs(start: int, n: int) -> list[dict[str, Any]]:
        return [
            {"sentence1": r["premise"], "sentence2": r["hypothesis"], "label": r["label"]}
            for r in pair_rows(n, start=start)
        ]

    train = write_csv(tmp_path / "train.csv", pairs(0, 12))
    test = write_csv(tmp_path / "test.csv", pairs(12, 4))

    with caplog.at_level(logging.INFO, logger="textfit"):
        splits = load_splits(DataConfig(train_file=train, test_file=test), seed=0)
    chosen = load_splits(DataConfig(train_file=train, text_column="sentence2"), seed=0)
    checked = check_data(
        RunConfig(
            data=DataConfig(train_file=train, test_file=test), model=ModelConfig(name=str(tiny_model_dir))
        )
    )

    assert ("sentence1", "sentence2") in PAIR_COLUMNS
    assert splits.columns == {"text": "sentence1", "text_pair": "sentence2", "label": "label"}
    assert splits.test is not None
    assert splits.test.text_pairs == [row["sentence2"] for row in pairs(12, 4)]
    assert (
        "columns 'sentence1' / 'sentence2' read as a text pair (--text-column and --text-pair-column "
        "choose others)"
    ) in caplog.messages
    assert chosen.columns == {"text": "sentence2", "text_pair": None, "label": "label"}, "--text-column wins"
    assert checked.checks[0].summary == "text 'sentence1', text pair 'sentence2', label 'label'"
    assert not checked.failed


# ---- issue 18 item 1: --overwrite deletes folders that are not runs, the training file included


def _train_args(tiny_model_dir: Path, *args: str | Path) -> list[str]:
    fast = ["--model", str(tiny_model_dir), "--epochs", "1", "--max-length", "16", "--batch-size", "4"]
    return ["train", *(str(arg) for arg in args), *fast, "--precision", "fp32", "--quiet"]


def _refused(result: Any, message: str) -> None:
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: {message}\nhint: " in result.stderr
    assert "Traceback" not in result.stderr


def test_overwrite_of_a_folder_holding_the_training_file_is_refused(
    tmp_path: Path, tiny_model_dir: Path, binary_csv: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    data = project / "data.csv"
    data.write_bytes(binary_csv.read_bytes())
    (project / "notes.md").write_text("notes\n", encoding="utf-8")

    # The issue's reproduction: the run replaced the project folder, data.csv and notes.md with it.
    result = runner.invoke(app, _train_args(tiny_model_dir, data, "-o", project, "--overwrite"))

    _refused(result, f"{project} holds {data}, which this command reads: textfit never replaces it")
    assert "hint: pass --output-dir with a folder that holds none of the input files\n" in result.stderr
    assert data.read_bytes() == binary_csv.read_bytes()
    assert (project / "notes.md").read_text(encoding="utf-8") == "notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"], "no proj.partial"


def test_overwrite_of_a_folder_of_other_files_is_refused(
    tmp_path: Path, tiny_model_dir: Path, binary_csv: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "notes.md").write_text("notes\n", encoding="utf-8")

    result = runner.invoke(app, _train_args(tiny_model_dir, binary_csv, "-o", project, "--overwrite"))

    _refused(result, f"{project} cannot be replaced: it holds files textfit did not write: 'notes.md'")
    assert (
        "hint: pass --output-dir with a new folder, or move those files out of it; "
        "--overwrite replaces only a folder textfit wrote\n"
    ) in result.stderr
    assert sorted(p.name for p in project.iterdir()) == ["notes.md"]


def test_overwrite_of_a_run_holding_the_users_notes_is_refused(
    tmp_path: Path, tiny_model_dir: Path, tiny_run_dir: Path, binary_csv: Path
) -> None:
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    (run_dir / "notes.md").write_text("notes\n", encoding="utf-8")

    result = runner.invoke(app, _train_args(tiny_model_dir, binary_csv, "-o", run_dir, "--overwrite"))

    _refused(result, f"{run_dir} cannot be replaced: it holds files textfit did not write: 'notes.md'")
    assert (run_dir / "notes.md").is_file()
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_a_partial_folder_textfit_did_not_write_is_refused(
    tmp_path: Path, tiny_model_dir: Path, binary_csv: Path
) -> None:
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "thesis.tex").write_text("text\n", encoding="utf-8")

    result = runner.invoke(app, _train_args(tiny_model_dir, binary_csv, "-o", tmp_path / "run"))

    _refused(result, f"{partial} cannot be replaced: it holds files textfit did not write: 'thesis.tex'")
    assert (partial / "thesis.tex").is_file()


def test_evaluate_output_that_is_the_evaluated_table_is_refused(
    tmp_path: Path, tiny_run_dir: Path, binary_test_csv: Path
) -> None:
    data = Path(shutil.copy(binary_test_csv, tmp_path / "test.csv"))

    result = runner.invoke(app, ["evaluate", str(tiny_run_dir), str(data), "-o", str(data)])

    _refused(result, f"evaluating {data} would write over it: {data} is that file")
    assert data.read_bytes() == binary_test_csv.read_bytes()


def test_export_with_the_check_file_in_the_onnx_folder_is_refused(
    tmp_path: Path, tiny_run_dir: Path, binary_test_csv: Path
) -> None:
    pytest.importorskip("onnxruntime")
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    (run_dir / "onnx").mkdir()
    check = Path(shutil.copy(binary_test_csv, run_dir / "onnx" / "check.csv"))

    result = runner.invoke(app, ["export", str(run_dir), "--check", str(check)])

    _refused(result, f"{run_dir / 'onnx'} holds {check}, which this command reads: textfit never replaces it")
    assert check.read_bytes() == binary_test_csv.read_bytes()


# ---- issue 18 item 6: a failed run leaves RUN.partial and a false --resume hint


def test_a_failed_run_leaves_no_partial_folder_and_no_resume_hint(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("text,label\n" + "".join(f"good day {i},pos\n" for i in range(20)), encoding="utf-8")
    run_dir = tmp_path / "run"

    trained = runner.invoke(app, _train_args(tiny_model_dir, one_class, "-o", run_dir))
    assert trained.exit_code == 1
    assert "error: " in trained.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_class.csv"], "no run.partial left"

    predicted = runner.invoke(app, ["predict", str(run_dir), "-"], input="good\n")
    _refused(predicted, f"run folder {run_dir} does not exist")
    assert "hint: pass the --output-dir of a run\n" in predicted.stderr
    assert "--resume" not in predicted.stderr


# ---- issue 18 item 2: a training table that does not divide the batch


def test_a_remainder_batch_leaves_every_validation_row_in_every_evaluation(
    tmp_path: Path, tiny_settings: dict[str, Any]
) -> None:
    # 44 training rows in batches of 5 leave 4: each evaluation counted at most 4 rows of a batch (10 of 12).
    train_file = write_csv(tmp_path / "train.csv", class_rows(CLASS_WORDS, 22))
    validation_file = write_csv(tmp_path / "validation.csv", class_rows(CLASS_WORDS, 6, start=22))
    settings = {**tiny_settings, "epochs": 2, "batch_size": 5, "eval_batch_size": 5}

    result = textfit.train(
        train_file=train_file,
        validation_file=validation_file,
        output_dir=tmp_path / "run",
        progress=False,
        **settings,
    )

    history = json.loads((result.run_dir / "log_history.json").read_text(encoding="utf-8"))
    assert [entry["eval_samples"] for entry in history if "eval_loss" in entry] == [12, 12]
