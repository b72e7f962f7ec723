"""`textfit export`: a run's model to ONNX (fp32, int8), checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from textfit.cli.options import (
    CheckTableOptions,
    ExportFormat,
    LabelColumn,
    Quantize,
    Quiet,
    RunDir,
    Verbose,
    option_groups,
)
from textfit.cli.output import reports_errors, setup_output
from textfit.cli.settings import data_config
from textfit.errors import TextfitError


@reports_errors
@option_groups
def export(
    run_dir: RunDir,
    *,
    export_format: Annotated[ExportFormat, typer.Option("--format", help="onnx: for ONNX Runtime.")] = "onnx",
    quantize: Annotated[
        Quantize, typer.Option(help="auto: int8 where the CPU has int8 dot products.")
    ] = "auto",
    check: Annotated[
        Path | None,
        typer.Option(
            help="Table to compare with PyTorch on (with labels: the F1 or RMSE bound too); default: the "
            "run's test file, else its validation file."
        ),
    ] = None,
    table: CheckTableOptions,
    label_column: LabelColumn = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Export a run's model to RUN/onnx for ONNX Runtime (fp32, int8) and check it against PyTorch.

    Exit status 1 when an exported model disagrees with PyTorch beyond the bounds.
    `textfit predict RUN file --backend onnx` and `textfit serve RUN --backend onnx` then use it.

    \b
    Example:
      textfit export runs/train --format onnx --quantize int8 --check test.csv
    """  # noqa: D301
    from textfit.data.tasks import DEFAULT_TASK
    from textfit.inference.onnx import check_bounds, default_check_file, export_onnx, format_check_table

    setup_output(quiet, verbose)
    cfg = data_config(table.overrides() | {"data.label_column": label_column})
    check = check or default_check_file(run_dir)
    checks = export_onnx(run_dir, check, cfg, None if quantize == "auto" else quantize == "int8")
    task = checks[0].task if checks else DEFAULT_TASK
    typer.echo(f"checked on {check} against PyTorch fp32 (bounds: {check_bounds(task)})")
    typer.echo("\n".join(format_check_table(checks)))
    failed = [c.model for c in checks if not c.passed]
    if failed:
        usable = [c.model for c in checks if c.passed]
        raise TextfitError(
            f"the {' and '.join(failed)} export disagrees with PyTorch beyond the bounds; "
            f"it is not used (figures in {run_dir / 'onnx' / 'check.json'})",
            hint=f"--backend onnx uses the {usable[0]} model"
            if usable
            else "predict and serve with PyTorch (the default backend)",
        )
    typer.echo(f"\nwritten to {run_dir / 'onnx'}; next: textfit serve {run_dir} --backend onnx")
