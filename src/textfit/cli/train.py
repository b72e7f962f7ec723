"""`textfit train`: flags -> RunConfig -> textfit.training.train -> the run's summary."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from textfit.cli.label_errors import echo_label_errors, find
from textfit.cli.options import (
    DatasetOptions,
    LabelErrorOptions,
    LabelOptions,
    LoadOptions,
    LongText,
    Loss,
    MaxLength,
    Model,
    Quiet,
    TableOptions,
    TaskOptions,
    TrainDevice,
    TrainFile,
    ValidationFile,
    Verbose,
    option_groups,
    overrides_of,
)
from textfit.cli.output import fail, progress_bar, reports_errors, setup_output
from textfit.cli.push import echo_pushed
from textfit.cli.settings import set_overrides, training_config
from textfit.config.choices import Precision

if TYPE_CHECKING:
    from textfit.label_errors import LabelErrors
    from textfit.training.train import TrainResult


@dataclasses.dataclass(frozen=True)
class RunFolderOptions:
    """Where the run is saved: a new folder, one to replace, or an interrupted run to resume."""

    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Run folder (default runs/<file name>, or runs/<data set>-<config>)."
        ),
    ] = None
    overwrite: Annotated[
        bool, typer.Option(help="Replace a run folder textfit wrote (never one holding other files).")
    ] = False
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue an interrupted run (its --output-dir) from its last checkpoint."),
    ] = None


@dataclasses.dataclass(frozen=True)
class SplitOptions:
    """Where validation and test rows come from, and whether token ids are cached: data.* settings."""

    validation_file: ValidationFile = None
    validation_split: Annotated[
        float | None, typer.Option(help="Share of the training file held out (default 0.1).")
    ] = None
    test_file: Annotated[Path | None, typer.Option(help="Test table, evaluated after training.")] = None
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse the token ids of unchanged texts and tokenizer ($TEXTFIT_CACHE or ~/.cache/textfit).",
        ),
    ] = True

    def overrides(self) -> dict[str, Any]:
        """The data.* settings; --cache (the default) leaves a --config's setting as it is."""
        values = dataclasses.asdict(self) | {"cache": None if self.cache else False}
        return {f"data.{key}": value for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How to train: the train.* settings that have a flag of their own."""

    epochs: Annotated[float | None, typer.Option(help="Passes over the data (default 3).")] = None
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default 1e-4).")] = None
    batch_size: Annotated[int | None, typer.Option(help="Training batch size (default 32).")] = None
    precision: Annotated[Precision | None, typer.Option(help="Training precision (default auto).")] = None
    device: TrainDevice = None
    seed: Annotated[int | None, typer.Option(help="Seed of split, init and order (default 42).")] = None
    early_stopping_patience: Annotated[
        int | None, typer.Option(help="Stop after N evaluations without improvement.")
    ] = None
    report_to: Annotated[
        str | None, typer.Option(help="none (default), tensorboard, mlflow, ... (comma-separated).")
    ] = None
    class_weights: Annotated[
        str | None,
        typer.Option(help="Loss weight per class: none (default), balanced, or LABEL=W,... (others 1)."),
    ] = None
    loss: Annotated[Loss | None, typer.Option(help="Training loss (default cross_entropy).")] = None
    deepspeed: Annotated[str | None, typer.Option(help="DeepSpeed config file (JSON), for the Trainer.")] = (
        None
    )
    fsdp: Annotated[
        str | None, typer.Option(help="FSDP options for the Trainer, e.g. 'full_shard auto_wrap'.")
    ] = None
    cpu_fast_path: Annotated[
        bool | None,
        typer.Option(
            "--cpu-fast-path/--no-cpu-fast-path",
            help="textfit's CPU training layers (default on; off: the model's own).",
        ),
    ] = None

    def overrides(self) -> dict[str, Any]:
        """The train.* settings; --report-to's comma-separated names as a list."""
        values = dataclasses.asdict(self)
        values["report_to"] = self.report_to.split(",") if self.report_to else None
        return {f"train.{key}": value for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class TextOptions:
    """How much of each text the model reads: the model.* settings of lengths."""

    max_length: MaxLength = None
    long_text: Annotated[
        LongText | None,
        typer.Option(help="Texts over --max-length: cut (default truncate), or read in overlapping windows."),
    ] = None
    stride: Annotated[int | None, typer.Option(help="Tokens shared by successive windows (default 64).")] = (
        None
    )

    def overrides(self) -> dict[str, Any]:
        """The model.* settings."""
        return {f"model.{key}": value for key, value in dataclasses.asdict(self).items()}


@reports_errors
@option_groups
def train(
    train_file: TrainFile = None,
    *,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (e.g. a run's run_config.yaml); flags win.")
    ] = None,
    folder: RunFolderOptions,
    model: Model = None,
    files: SplitOptions,
    dataset: DatasetOptions,
    table: TableOptions,
    labels: LabelOptions,
    training: TrainingOptions,
    texts: TextOptions,
    task: TaskOptions,
    load: LoadOptions,
    errors: LabelErrorOptions,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE, e.g. --set train.weight_decay=0.1"),
    ] = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            metavar="REPO_ID",
            help="Push the saved run to this Hub repo (OWNER/NAME; private unless --set hub.private=false). "
            "Token: HF_TOKEN or `hf auth login`.",
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Fine-tune a model on a labelled table, evaluate it, and save the run.

    \b
    Examples:
      textfit train data.csv --test-file test.csv --epochs 2
      textfit train --dataset glue --dataset-config mrpc      # a data set
      textfit train --resume runs/data                        # resume an interrupted run
      torchrun --nproc_per_node 2 -m textfit train data.csv   # several processes
      textfit train data.csv --label-errors                   # and RUN/label_errors.csv
    """  # noqa: D301
    _setup_output(quiet, verbose)
    overrides: dict[str, Any] = {
        "output_dir": folder.output_dir,
        "model.name": model,
        "hub.push_to_hub": push_to_hub,
        "data.train_file": train_file,
    } | overrides_of(training, texts, task, load, files, table, labels)
    overrides |= dataset.overrides(train_file) | set_overrides(setting)
    found = _label_errors(errors, config, overrides, folder)  # before training: fails early
    result = _run(config, overrides, folder, quiet)
    if result.main_process:
        _echo_result(result)
        if found is not None:
            from textfit.label_errors import save_run_label_errors

            echo_label_errors(found, str(save_run_label_errors(result.run_dir, found)))


def _label_errors(
    errors: LabelErrorOptions, config: Path | None, overrides: dict[str, Any], folder: RunFolderOptions
) -> LabelErrors | None:
    """With --label-errors, the training rows whose label is probably wrong (not with --resume).

    In a distributed run the other processes find none: they write nothing.
    """
    errors.check_asked(errors.label_errors)
    if not errors.label_errors:
        return None
    if folder.resume is not None:
        raise typer.BadParameter(
            "--label-errors finds the rows of a new run's table; run `textfit check --label-errors` "
            "for those of a resumed one",
            param_hint="--label-errors",
        )
    from textfit.training.arguments import is_main_process

    if not is_main_process():  # under torchrun the main process alone searches, and writes the rows
        return None
    return find(errors, training_config(config, overrides))


def _setup_output(quiet: bool, verbose: bool) -> None:
    """Log output as usual in the main process; the others of a distributed run log errors only."""
    from textfit.training.arguments import is_main_process

    main_process = is_main_process()  # the process that writes the run, as training decides it
    setup_output(quiet or not main_process, verbose)
    if not main_process:
        logging.getLogger("textfit").setLevel(logging.ERROR)


def _run(
    config: Path | None, overrides: dict[str, Any], folder: RunFolderOptions, quiet: bool
) -> TrainResult:
    """Train a new run, or resume one: its saved settings, which the flags given must agree with."""
    from textfit.config.loading import load_config
    from textfit.push import train_and_push as run_training

    inputs = [config] if config else []
    with progress_bar(quiet, "tokenizing") as tokenize_progress:
        if folder.resume is None:
            return run_training(
                training_config(config, overrides),
                overwrite=folder.overwrite,
                progress=not quiet,
                tokenize_progress=tokenize_progress,
                inputs=inputs,
            )
        given = {key: value for key, value in overrides.items() if value is not None}
        cfg = load_config(config, given) if config is not None else None
        return run_training(
            cfg,
            resume=folder.resume,
            progress=not quiet,
            tokenize_progress=tokenize_progress,
            inputs=inputs,
            **({} if cfg else given),
        )


def _echo_result(result: TrainResult) -> None:
    """The run's summary, what was pushed, the next command; a failed push: how to push again."""
    from textfit.training.summary import next_steps, train_summary

    typer.echo(train_summary(result))
    if result.pushed is not None:
        typer.echo("")
        echo_pushed(result.pushed)
    typer.echo("\n" + next_steps(result))
    if result.push_error is not None:  # the run is saved: say so, and how to push it again
        from textfit.config.loading import load_config
        from textfit.push import retry_command

        hub = load_config(result.run_dir / "run_config.yaml").hub
        fail(result.push_error)
        typer.echo(
            f"the run is saved in {result.run_dir}; push it with: "
            f"{retry_command(result.run_dir, hub.push_to_hub or 'OWNER/NAME', hub.private)}",
            err=True,
        )
        raise typer.Exit(1)
