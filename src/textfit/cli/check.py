"""`textfit check`: the pre-flight checks of labelled tables, and the command to run next."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from textfit.cli.label_errors import echo_label_errors, find_and_write
from textfit.cli.options import (
    DatasetOptions,
    LabelErrorOptions,
    LabelOptions,
    MaxLength,
    TableOptions,
    TaskOptions,
    TrainFile,
    ValidationFile,
    Verbose,
    option_groups,
    overrides_of,
)
from textfit.cli.output import reports_errors, setup_output
from textfit.cli.settings import training_config

if TYPE_CHECKING:
    from textfit.config.schema import RunConfig
    from textfit.label_errors import LabelErrors


@dataclasses.dataclass(frozen=True)
class CheckLabelErrorOptions(LabelErrorOptions):
    """The label errors of check, and the file they are written to."""

    label_errors_out: Annotated[
        Path | None,
        typer.Option(help="Write the label errors found as CSV to this file (implies --label-errors)."),
    ] = None
    overwrite: Annotated[bool, typer.Option(help="Replace the --label-errors-out file.")] = False

    def find(self, cfg: RunConfig, failed: bool) -> tuple[LabelErrors | None, str | None]:
        """With --label-errors (or --label-errors-out), unless a check failed: the rows, the file written."""
        asked = self.label_errors or self.label_errors_out is not None
        self.check_asked(asked)
        if failed or not asked:
            return None, None
        return find_and_write(self, cfg, self.label_errors_out, self.overwrite)


@reports_errors
@option_groups
def check(
    train_file: TrainFile = None,
    *,
    validation_file: ValidationFile = None,
    test_file: Annotated[Path | None, typer.Option(help="Test table.")] = None,
    dataset: DatasetOptions,
    table: TableOptions,
    labels: LabelOptions,
    model: Annotated[
        str | None,
        typer.Option(
            help="Whose tokenizer counts the tokens, whose encoder finds label errors (default minilm)."
        ),
    ] = None,
    max_length: MaxLength = None,
    task: TaskOptions,
    config: Annotated[Path | None, typer.Option(help="YAML config (e.g. a run's run_config.yaml).")] = None,
    errors: CheckLabelErrorOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the warnings and failures.")] = False,
    verbose: Verbose = False,
) -> None:
    """Check labelled tables before training: columns, rows, labels, repeats, overlap, lengths.

    One line per check (PASS / WARN / FAIL), then the task of the labels; exit status 1 when a
    check fails. Multi-label tables are counted per label; regression targets get their spread.
    --label-errors then lists the training rows whose label is probably wrong (single-label).

    \b
    Examples:
      textfit check data.csv --validation-file dev.csv
      textfit check --dataset dair-ai/emotion
      textfit check data.csv --label-errors --label-errors-out label_errors.csv
    """  # noqa: D301
    from textfit.checks.base import format_checks
    from textfit.checks.run import check_data
    from textfit.checks.summary import next_step

    setup_output(quiet, verbose)
    overrides: dict[str, Any] = {
        "data.train_file": train_file,
        "data.validation_file": validation_file,
        "data.test_file": test_file,
        "model.name": model,
        "model.max_length": max_length,
    } | overrides_of(task, table, labels)
    overrides |= dataset.overrides(train_file)
    cfg = training_config(config, overrides)
    report = check_data(cfg)
    found, written = errors.find(cfg, failed=bool(report.failed))
    if as_json:
        answer = report.to_dict() | ({"label_errors": found.to_dict()} if found is not None else {})
        typer.echo(json.dumps(answer, indent=2))
    else:
        typer.echo(format_checks(report, quiet))
        if found is not None:
            echo_label_errors(found, written)
        typer.echo(next_step(report, _command_args(overrides, config)))
    if report.failed:
        raise typer.Exit(1)


# The settings check was given, and their flags: in the order the next command repeats them.
FLAGS = {
    "data.dataset": "--dataset",
    "data.dataset_config": "--dataset-config",
    "data.train_split": "--train-split",
    "data.validation_split_name": "--validation-split-name",
    "data.test_split": "--test-split",
    "data.validation_file": "--validation-file",
    "data.test_file": "--test-file",
    "data.text_column": "--text-column",
    "data.text_pair_column": "--text-pair-column",
    "data.label_column": "--label-column",
    "model.name": "--model",
    "model.max_length": "--max-length",
    "model.task": "--task",
    "data.label_delimiter": "--label-delimiter",
    "data.label_map": "--label-map",
    "data.format": "--format",
    "data.encoding": "--encoding",
    "data.delimiter": "--delimiter",
    "config": "--config",
    "data.drop_invalid": "--drop-invalid",
    "data.group_column": "--group-column",
}


def _command_args(overrides: dict[str, Any], config: Path | None) -> str:
    """TRAIN_FILE and the flags check was given, as `textfit check` or `textfit train` takes them again."""
    given = overrides | {"config": config}
    args = [shlex.quote(str(given["data.train_file"]))] if given["data.train_file"] is not None else []
    for key, flag in FLAGS.items():
        value = given.get(key)
        if value is not None:
            args.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(args)
