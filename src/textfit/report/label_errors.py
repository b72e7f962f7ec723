"""The report's "Possible label errors": RUN/label_errors.csv, which `textfit train --label-errors` writes.

The rows are found by textfit.label_errors (above this layer), which writes the file; the report
only reads and draws it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from textfit.report import markup
from textfit.runs.layout import LABEL_ERRORS_FILE

LABEL_ERRORS_HEADER = (
    "rank",
    "row",
    "line",
    "text",
    "text_pair",
    "label",
    "suggested_label",
    "label_quality",
)
SHOWN = 50  # rows of label_errors.csv in the report


def read_label_errors(run_dir: Path) -> list[dict[str, str]] | None:
    """The rows of RUN/label_errors.csv; None where the run has none (or it cannot be read)."""
    path = run_dir / LABEL_ERRORS_FILE
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def label_errors_section(rows: Sequence[dict[str, str]]) -> list[str]:
    """The section on the rows whose given label is probably wrong, the most likely first."""
    pair = any(row.get("text_pair") for row in rows)
    header = ["row", "label quality", "given label", "suggested", "text", *(["second text"] if pair else [])]
    shown = [
        [
            row.get("row", ""),
            _number(row.get("label_quality", "")),
            row.get("label", ""),
            row.get("suggested_label", ""),
            markup.cut_text(row.get("text")),
        ]
        + ([markup.cut_text(row.get("text_pair"))] if pair else [])
        for row in rows[:SHOWN]
    ]
    parts = ['<h2 id="label-errors">Possible label errors</h2>']
    if not rows:
        return [*parts, '<p class="note">No rows of the training table look mislabelled.</p>']
    note = (
        f"<p>{len(rows):,} rows of the training table have a label that the out-of-fold predictions "
        "contradict (cleanlab's confident learning); "
        + (f"the {len(shown)} with the lowest" if len(rows) > SHOWN else "the lowest first by")
        + " label quality"
        + f" (the probability of the given label). All of them: {LABEL_ERRORS_FILE}.</p>"
    )
    extra = {"second text": "text"} if pair else {}
    return [*parts, note, markup.table(header, shown, row="n", text="text", **extra)]


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value
