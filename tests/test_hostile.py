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

from conftest import read_csv
from textfit.checks import check_splits
from textfit.cli import app
from textfit.config import DataConfig
from textfit.data import load_splits, read_examples
from textfit.errors import DataError
from textfit.predict import Classifier, csv_cell, predict_file

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

    result = runner.invoke(app, _train_args(tiny_model_dir, data, "-o", project, "--overwrite"))

    _refused(result, f"{project} holds {data}, which this command reads: textfit never replaces it")
    assert sorted(p.name for p in project.iterdir()) == ["data.csv", "notes.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_overwrite_of_a_folder_of_other_files_is_refused(
    tmp_path: Path, tiny_model_dir: Path, binary_csv: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "notes.md").write_text("notes\n", encoding="utf-8")

    result = runner.invoke(app, _train_args(tiny_model_dir, binary_csv, "-o", project, "--overwrite"))

    _refused(result, f"{project} cannot be replaced: it holds files textfit did not write: 'notes.md'")
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
