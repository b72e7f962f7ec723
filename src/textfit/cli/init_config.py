"""`textfit init-config`: a YAML config of every setting, its default and what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from textfit.cli.output import reports_errors


@reports_errors
def init_config(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: print to stdout).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a YAML config of every setting, with its default and what it does.

    \b
    Example:
      textfit init-config -o textfit.yaml    # then edit it
      textfit train --config textfit.yaml
    """  # noqa: D301
    from textfit.config.template import default_config_yaml
    from textfit.config.template import init_config as write_config

    if output is None:
        typer.echo(default_config_yaml(), nl=False)
        return
    write_config(output, overwrite)
    typer.echo(f"config written to {output}")
    typer.echo(f"next: edit it, then textfit train --config {output}")
