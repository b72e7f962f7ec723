"""`textfit report`: rebuild a run's report page and figures from its files."""

from __future__ import annotations

from typing import Annotated

import typer

from textfit.cli.options import Quiet, RunDir, Verbose
from textfit.cli.output import reports_errors, setup_output


@reports_errors
def report(
    run_dir: RunDir,
    split: Annotated[
        str,
        typer.Option(help="validation, test, or the file name (no extension) given to textfit evaluate."),
    ] = "validation",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Rebuild a run's report from its files (no model is loaded): RUN_DIR/report.html and figures/.

    Metrics, per-class bars, confusion matrices, training curves, calibration and the most
    confidently wrong examples.

    \b
    Example:
      textfit report runs/train --split test
    """  # noqa: D301
    from textfit.report.page import write_report

    setup_output(quiet, verbose)
    path = write_report(run_dir, split)
    typer.echo(str(path))
