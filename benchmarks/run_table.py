"""What the prediction benchmarks share: their `RUN TABLE` arguments and the texts of the table."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


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
