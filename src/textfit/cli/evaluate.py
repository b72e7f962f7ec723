"""`textfit evaluate`: a trained run on a labelled table -> metrics table, JSON, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textfit.cli.options import (
    FastPaths,
    InferencePrecision,
    LabelOptions,
    LoadOptions,
    Quiet,
    RunDir,
    TableOptions,
    Verbose,
    option_groups,
)
from textfit.cli.output import progress_bar, reports_errors, setup_output
from textfit.cli.settings import data_config


@reports_errors
@option_groups
def evaluate(
    run_dir: RunDir,
    data_file: Annotated[Path, typer.Argument(help="Labelled table to evaluate on.")],
    *,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Metrics JSON (default RUN_DIR/eval-<file>.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
    table: TableOptions,
    labels: LabelOptions,
    precision: InferencePrecision = "auto",
    fast_paths: FastPaths = "all",
    report: Annotated[
        bool, typer.Option(help="Write report-<file>.html and figures-<file>/ beside the metrics JSON.")
    ] = True,
    load: LoadOptions,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Evaluate a trained run on a labelled table: a readable table, the metrics as JSON, a report.

    \b
    Example:
      textfit evaluate runs/train test.csv
    """  # noqa: D301
    from textfit.cli.predict import load_classifier
    from textfit.evaluation import evaluate as evaluate_run
    from textfit.report.summary import metrics_summary

    setup_output(quiet, verbose)
    cfg = data_config(table.overrides() | labels.overrides())
    with progress_bar(quiet, "evaluating") as progress:
        result = evaluate_run(
            run_dir,
            data_file,
            cfg,
            output,
            classifier=load_classifier(run_dir, "torch", 64, precision, load, fast_paths=fast_paths),
            progress=progress,
            report=report,
        )
    if as_json:
        typer.echo(json.dumps(result.metrics, indent=2))
        return
    typer.echo(metrics_summary(result.metrics, f"{data_file} ({result.metrics['samples']} rows):"))
    if result.predictions_file is not None:
        typer.echo(f"\npredictions written to {result.predictions_file}")
    if result.report_file is not None:
        typer.echo(f"report written to {result.report_file}")
    typer.echo(f"metrics written to {result.output}")
    typer.echo(f"next: textfit predict {run_dir} new_texts.csv -o predictions.csv")
