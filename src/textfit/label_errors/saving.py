"""label_errors.csv: the rows found, most likely wrong first; written where the user asks, or beside a run.

A file the user names is not replaced without `overwrite`; the run folder's is textfit's own
(runs/layout.py), and its report.html is drawn again with a section on the rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

from textfit.files import check_file_to_write, write_atomic
from textfit.label_errors.find import LabelErrors
from textfit.report.label_errors import LABEL_ERRORS_HEADER
from textfit.report.page import write_report
from textfit.runs.layout import LABEL_ERRORS_FILE


def check_label_errors_file(path: Path, overwrite: bool) -> None:
    """Fail unless `path` may be written: not a folder, and new unless `overwrite`.

    Raises:
        ConfigError: naming the file, with the flag that allows it.
    """
    check_file_to_write(path, overwrite, "--label-errors-out", "label_errors.csv")


def write_label_errors(path: str | Path, found: LabelErrors, *, overwrite: bool = False) -> Path:
    """Write the rows found as a CSV (LABEL_ERRORS_HEADER; text_pair only for sentence pairs).

    Raises:
        ConfigError: the file exists and `overwrite` is off, or `path` is a folder.
    """
    path = Path(path)
    check_label_errors_file(path, overwrite)
    pairs = any(row.text_pair is not None for row in found.rows)
    header = [name for name in LABEL_ERRORS_HEADER if pairs or name != "text_pair"]

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for rank, row in enumerate(found.rows, start=1):
                cells = {
                    "rank": rank,
                    "row": row.row,
                    "line": "" if row.line is None else row.line,
                    "text": row.text,
                    "text_pair": row.text_pair,
                    "label": row.label,
                    "suggested_label": row.suggested_label,
                    "label_quality": f"{row.label_quality:.4f}",
                }
                writer.writerow([cells[name] for name in header])

    write_atomic(path, write)
    return path


def save_run_label_errors(run_dir: str | Path, found: LabelErrors) -> Path:
    """Write RUN/label_errors.csv and draw the run's report.html again, with its "Possible label errors".

    Returns:
        The CSV's path.
    """
    run_dir = Path(run_dir)
    path = write_label_errors(run_dir / LABEL_ERRORS_FILE, found, overwrite=True)
    write_report(run_dir)
    return path
