"""Predict every row of a table and write it with its predictions: `predict_file` (`textfit predict`)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from textfit.config.schema import DataConfig
from textfit.data.examples import find_columns, with_trained_columns
from textfit.data.reading import read_table
from textfit.data.rows import text_column
from textfit.data.tables import Table, table_format
from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task
from textfit.errors import DataError
from textfit.files import write_text_atomic
from textfit.inference.backends import FAST_PATHS
from textfit.inference.classifier import Classifier, Prediction, ProgressCallback


def _regression_cells(prediction: Prediction | None) -> dict[str, Any]:
    return {"predicted_value": round(prediction.score, 6) if prediction else None}


def _multi_label_cells(prediction: Prediction | None) -> dict[str, Any]:
    return {
        "predicted_labels": prediction.label if prediction else None,
        "label_probabilities": [[name, round(p, 6)] for name, p in prediction.labels] if prediction else None,
    }


def _single_label_cells(prediction: Prediction | None) -> dict[str, Any]:
    return {
        "predicted_label": prediction.label if prediction else None,
        "predicted_probability": round(prediction.score, 6) if prediction else None,
        "top_k": [[name, round(p, 6)] for name, p in prediction.top_k] if prediction else None,
    }


# The output columns of one row's prediction, per task; None for a row without a text (None is null
# in JSON Lines and an empty cell in CSV / TSV).
PREDICTION_CELLS: dict[Task, Callable[[Prediction | None], dict[str, Any]]] = {
    SINGLE_LABEL: _single_label_cells,
    MULTI_LABEL: _multi_label_cells,
    REGRESSION: _regression_cells,
}


def _read_input(path: str, cfg: DataConfig) -> Table:
    if path != "-":
        return read_table(Path(path), cfg.format, cfg.encoding, cfg.delimiter)
    fmt = "csv" if cfg.format == "auto" else cfg.format
    with tempfile.TemporaryDirectory() as tmp:  # read_table reads files; stdin becomes one
        file = Path(tmp) / f"stdin.{fmt}"
        file.write_bytes(sys.stdin.buffer.read())
        table = read_table(file, fmt, cfg.encoding, cfg.delimiter)
    table.path = Path("<stdin>")
    return table


# A cell that is exactly a number: a spreadsheet reads it as one, runs nothing, and keeps its sign.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV / TSV cell that a spreadsheet shows and never runs.

    Text starting with =, +, -, @, a tab or a carriage return (a formula to Excel, LibreOffice and
    Google Sheets) gets a leading apostrophe; text that is exactly a number ("-2", "+1.5e3") is
    left as it is, and so are numbers. Lists (top_k) become JSON.
    """
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return value if _NUMBER.fullmatch(value) else "'" + value
    return value


def _write_output(rows: list[dict[str, Any]], fieldnames: list[str], output: str, fmt: str) -> None:
    buffer = io.StringIO(newline="")
    if fmt == "jsonl":
        for row in rows:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow([csv_cell(name) for name in fieldnames])  # column names come from the input too
        for row in rows:
            writer.writerow([csv_cell(row[name]) for name in fieldnames])
    if output == "-":
        sys.stdout.write(buffer.getvalue())
        return
    write_text_atomic(Path(output), buffer.getvalue())


def table_texts(
    table: Table, cfg: DataConfig, trained: dict[str, Any]
) -> tuple[list[str | None], list[str | None] | None]:
    """The texts (and second texts, for a pair model) of a table to predict, missing ones as None.

    The columns are those cfg names, else those the model was trained on (`trained`: its
    textfit_columns) where the table has them, else found by name (text, sentence, ...).

    Raises:
        DataError: no text column, or a pair model and no second text column.
    """
    cfg = with_trained_columns(cfg, table, trained)
    columns = find_columns(table, cfg, need_label=False)
    texts = text_column(table, columns["text"]).to_pylist()
    pair = columns["text_pair"]
    return texts, None if pair is None else text_column(table, pair, "text_pair").to_pylist()


def predict_file(
    run_dir: Path,
    input_path: str,
    output: str,
    cfg: DataConfig | None = None,
    top_k: int = 3,
    classifier: Classifier | None = None,
    progress: ProgressCallback | None = None,
    fast_paths: Collection[str] = FAST_PATHS,
) -> int:
    """Predict every row of a table and write it with its predictions; returns the row count.

    Every input row is kept, in order, with its columns, then `predicted_label`,
    `predicted_probability` and `top_k` (JSON list of [label, probability]); a multi-label model
    writes `predicted_labels` (joined by its delimiter) and `label_probabilities` (JSON list of the
    labels over their thresholds), a regression model `predicted_value`. A row whose text (or
    text pair) is missing, empty or whitespace only keeps its place with no prediction: empty
    cells in CSV / TSV, null in JSON Lines (see `check_texts`). `-` reads stdin / writes stdout.
    The output format follows the output file's extension (CSV, TSV or JSON Lines); stdout gets
    the input's format. Without a classifier given, the run's loads with `fast_paths` (see
    `Classifier.load`; none: the model's own forward pass).
    """
    cfg = cfg or DataConfig()
    classifier = classifier or Classifier.load(run_dir, fast_paths=fast_paths)
    table = _read_input(input_path, cfg)
    in_format = table_format(table.path, cfg.format) if input_path != "-" else cfg.format
    out_format = "csv" if in_format in ("auto", "parquet") else in_format
    if output != "-":
        out_format = table_format(Path(output))
        if out_format == "parquet":
            raise DataError(f"cannot write predictions as Parquet ({output})", hint="use .csv or .jsonl")
    read, read_pairs = table_texts(table, cfg, classifier.columns)
    texts = [value or "" for value in read]
    pairs = None if read_pairs is None else [value or "" for value in read_pairs]
    usable = [i for i, text in enumerate(texts) if text.strip() and (pairs is None or pairs[i].strip())]
    predictions = classifier.predict(
        [texts[i] for i in usable],
        [pairs[i] for i in usable] if pairs is not None else None,
        top_k=top_k,
        progress=progress,
    )
    by_row = dict(zip(usable, predictions, strict=True))
    rows = []
    for index in range(len(table)):
        row = {name: values[index] for name, values in table.columns.items()}
        row.update(PREDICTION_CELLS[classifier.task](by_row.get(index)))
        rows.append(row)
    fieldnames = [*table.columns, *PREDICTION_CELLS[classifier.task](None)]
    _write_output(rows, fieldnames, output, out_format)
    return len(rows)
