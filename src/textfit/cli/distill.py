"""`textfit distill`: flags -> RunConfig -> textfit.training.distill -> the student beside the teacher."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from textfit.cli.options import (
    LabelOptions,
    LoadOptions,
    Model,
    Quiet,
    TableOptions,
    TrainFile,
    Verbose,
    option_groups,
    overrides_of,
)
from textfit.cli.output import progress_bar, reports_errors, setup_output
from textfit.cli.settings import set_overrides, training_config
from textfit.cli.train import SplitOptions, TextOptions, TrainingOptions

if TYPE_CHECKING:
    from textfit.training.distill import DistillResult


@dataclasses.dataclass(frozen=True)
class DistillOptions:
    """How the student learns the teacher: the arguments of textfit.training.distill."""

    temperature: Annotated[
        float, typer.Option(help="Softens teacher and student: softmax(logits / T); the loss is times T^2.")
    ] = 2.0
    alpha: Annotated[
        float,
        typer.Option(
            help="Weight of the label loss on rows with a label, 0 to 1 (default 0: the teacher alone)."
        ),
    ] = 0.0


@reports_errors
@option_groups
def distill(
    teacher_run: Annotated[Path, typer.Argument(help="The teacher: a single-label run folder.")],
    train_file: TrainFile = None,
    *,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML config of the student (e.g. a run's run_config.yaml); flags win."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Run folder (default runs/<file name>-distilled)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a run folder textfit wrote (never one holding other files).")
    ] = False,
    model: Model = None,
    how: DistillOptions,
    files: SplitOptions,
    table: TableOptions,
    labels: LabelOptions,
    training: TrainingOptions,
    texts: TextOptions,
    load: LoadOptions,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE, e.g. --set train.weight_decay=0.1"),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a small student on a teacher run's probabilities; rows with an empty label count too.

    \b
    Examples:
      textfit distill runs/teacher data.csv --model minilm --test-file test.csv
      textfit distill runs/teacher unlabelled.csv --validation-file dev.csv --alpha 0.5
    """  # noqa: D301
    from textfit.training.distill import distill as run_distill

    setup_output(quiet, verbose)
    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "model.name": model,
        "data.train_file": train_file,
    } | overrides_of(training, texts, load, files, table, labels)
    overrides |= set_overrides(setting)
    with progress_bar(quiet, "tokenizing") as tokenize_progress:
        result = run_distill(
            teacher_run,
            training_config(config, overrides),
            overwrite=overwrite,
            temperature=how.temperature,
            alpha=how.alpha,
            progress=not quiet,
            tokenize_progress=tokenize_progress,
            inputs=[config] if config else [],
        )
    if result.main_process:  # in a distributed run, the process that wrote the run prints it
        _echo_result(result)


def _echo_result(result: DistillResult) -> None:
    """The student's summary, the teacher beside it, and the next command."""
    from textfit.training.summary import distill_summary, next_steps

    typer.echo(distill_summary(result))
    typer.echo("\n" + next_steps(result))
