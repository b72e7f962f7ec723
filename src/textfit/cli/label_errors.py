"""The label errors of `textfit check --label-errors` and `textfit train --label-errors`: found, shown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from textfit.cli.options import LabelErrorOptions

if TYPE_CHECKING:
    from textfit.config.schema import RunConfig
    from textfit.label_errors import LabelErrors

SHOWN = 20  # rows listed on the terminal
TEXT_WIDTH = 60  # characters of a text listed


def find(options: LabelErrorOptions, cfg: RunConfig) -> LabelErrors:
    """The rows of cfg's training table whose label is probably wrong, as the flags ask."""
    from textfit.label_errors import find_label_errors

    return find_label_errors(
        cfg, method=options.label_errors_method, folds=options.folds, epochs=options.label_errors_epochs
    )


def find_and_write(
    options: LabelErrorOptions, cfg: RunConfig, out: Path | None, overwrite: bool
) -> tuple[LabelErrors, str | None]:
    """`find`, then the rows written to `out` (checked first: a file not to replace fails at once)."""
    from textfit.label_errors import check_label_errors_file, write_label_errors

    if out is not None:
        check_label_errors_file(out, overwrite)
    found = find(options, cfg)
    written = None if out is None else str(write_label_errors(out, found, overwrite=overwrite))
    return found, written


def format_label_errors(found: LabelErrors, written: str | None = None) -> str:
    """The count, then the rows most likely mislabelled: where, given label -> suggested, quality, text."""
    lines = [
        f"label errors: {len(found.rows):,} of {found.checked:,} rows of {found.source.name} look "
        f"mislabelled ({found.method}, {found.folds} folds, {found.seconds:.0f} s)"
    ]
    lines += [f"  note: {note}" for note in found.notes]
    wheres = [row.where for row in found.rows[:SHOWN]]
    width = max(map(len, wheres), default=0)
    for where, row in zip(wheres, found.rows, strict=False):
        text = " ".join(row.text.split())
        text = text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"
        lines.append(
            f"  {where:<{width}}  {row.label} -> {row.suggested_label}  {row.label_quality:.3f}  {text}"
        )
    if len(found.rows) > SHOWN:
        more = f"  and {len(found.rows) - SHOWN:,} more"
        lines.append(more + ("" if written else " (--label-errors-out FILE writes them all)"))
    if written:
        lines.append(f"  all of them: {written}")
    return "\n".join(lines)


def echo_label_errors(found: LabelErrors, written: str | None = None) -> None:
    """Print `format_label_errors` on stdout."""
    typer.echo(format_label_errors(found, written))
