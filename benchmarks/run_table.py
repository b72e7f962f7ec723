"""What the benchmarks share: the `RUN TABLE` arguments of the prediction ones, CSV rows read and written."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any


def run_table_parser(description: str, run_help: str | None = None) -> argparse.ArgumentParser:
    """A parser whose first arguments are a run folder and a table of texts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", type=Path, help=run_help)
    parser.add_argument("table", type=Path, help="a CSV with a text column named text")
    return parser


def read_texts(table: Path) -> list[str]:
    """The `text` column of a CSV table."""
    with table.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def read_rows(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV with a header, as dicts."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows (dicts with the first row's keys) as a CSV with a header; returns the path."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
