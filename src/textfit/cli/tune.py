"""`textfit tune`: an Optuna study of training runs -> its trials table and best run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from textfit.cli.options import (
    DatasetOptions,
    LabelOptions,
    Model,
    Quiet,
    TableOptions,
    TrainDevice,
    TrainFile,
    Verbose,
    option_groups,
    overrides_of,
)
from textfit.cli.output import reports_errors, setup_output
from textfit.cli.settings import set_overrides, training_config
from textfit.errors import TextfitError


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """How long the study goes on: the tune.* settings that have a flag of their own."""

    n_trials: Annotated[
        int | None, typer.Option(help="Trials in the study in all, earlier ones counted (default 20).")
    ] = None
    timeout: Annotated[float | None, typer.Option(help="Start no trial after this many seconds.")] = None

    def overrides(self) -> dict[str, Any]:
        """The tune.* settings."""
        return {f"tune.{key}": value for key, value in dataclasses.asdict(self).items()}


@reports_errors
@option_groups
def tune(
    train_file: TrainFile = None,
    *,
    config: Annotated[
        Path | None, typer.Option(help="YAML config; its tune section holds the search space; flags win.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Study folder (default runs/<file name>-tune)."),
    ] = None,
    model: Model = None,
    validation_file: Annotated[
        Path | None, typer.Option(help="Validation table (the trials' metric).")
    ] = None,
    dataset: DatasetOptions,
    table: TableOptions,
    labels: LabelOptions,
    study: StudyOptions,
    device: TrainDevice = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE, e.g. --set tune.epochs=[2,4]"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Start the study again (the old one is deleted when the new one ends).")
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Search learning rate, epochs, batch size, warmup and weight decay with Optuna trials.

    Each trial trains a run into OUTPUT_DIR/trials/NNN; the best is copied to OUTPUT_DIR/best, every
    trial listed in OUTPUT_DIR/trials.csv. Run the same command again to continue a stopped study.

    \b
    Example:
      textfit tune data.csv --n-trials 20
    """  # noqa: D301
    from textfit.training.summary import best_trial, next_steps, trial_table
    from textfit.training.tune import tune as run_tune

    setup_output(quiet, verbose)
    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "model.name": model,
        "data.train_file": train_file,
        "data.validation_file": validation_file,
        "train.device": device,
    } | overrides_of(study, table, labels)
    cfg = training_config(config, overrides | dataset.overrides(train_file) | set_overrides(setting))
    result = run_tune(cfg, overwrite=overwrite, progress=not quiet, inputs=[config] if config else [])
    typer.echo(trial_table(result))
    if result.best_dir is None:
        raise TextfitError(
            "no trial completed (every trial was pruned or failed)",
            hint="run the same command again with a larger --n-trials to go on",
        )
    typer.echo("\n" + best_trial(result))
    typer.echo(next_steps(result))
