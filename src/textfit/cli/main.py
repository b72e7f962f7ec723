"""The `textfit` command: the Typer app, with one module per command (cli/train.py: `textfit train`).

Each command reads its flags into a RunConfig (or a library call's arguments), makes one library call
and prints the result; cli/options.py holds the flags several commands share, cli/output.py what
they write besides results.
"""

from __future__ import annotations

from typing import Annotated

import typer

from textfit.cli.check import check
from textfit.cli.distill import distill
from textfit.cli.evaluate import evaluate
from textfit.cli.export import export
from textfit.cli.init_config import init_config
from textfit.cli.predict import predict
from textfit.cli.push import push
from textfit.cli.report import report
from textfit.cli.serve import serve
from textfit.cli.train import train
from textfit.cli.tune import tune

# Help texts keep each example command on a line of its own: a paragraph that starts with \b (a
# backspace, which click reads as "do not rewrap"; hence the docstrings' noqa D301).
app = typer.Typer(
    name="textfit",
    help="Fine-tune a pretrained transformer into a text classifier from a labelled file.\n\n"
    "\b\nQuick start:\n"
    "  textfit train data.csv --test-file test.csv\n"
    "  textfit predict runs/data new.csv -o predictions.csv",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from textfit.version import __version__

        typer.echo(f"textfit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """Fine-tune a pretrained transformer into a text classifier from a labelled file."""


# In the order `textfit --help` lists them: the steps of a run, first to last.
for command in (check, train, distill, tune, evaluate, report, predict, export, serve, push):
    app.command()(command)
app.command("init-config")(init_config)


def main() -> None:
    """Entry point of the `textfit` command."""
    app()
