"""The `textfit` command line: flags -> RunConfig -> one library call -> printed results, exit code."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, get_args

import typer

from textfit.config.schema import DataConfig, ModelConfig, Precision, TableFormat, TrainConfig
from textfit.errors import TextfitError

P = ParamSpec("P")

if TYPE_CHECKING:
    from textfit.config.schema import RunConfig
    from textfit.push import PushResult

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


def _choices(values: Any) -> str:
    """A closed set of values (a Literal) as --help shows it: [a|b|c].

    The set comes from the type that validates the setting (config.py's, or the command's own), so
    the help cannot drift from what is accepted. The values are still checked where they were (the
    config: exit 1 with every problem at once; a command's own: a usage error, exit 2).
    """
    return "[" + "|".join(str(value) for value in get_args(values) if value is not None) + "]"


Backend = Literal["torch", "onnx"]
ExportFormat = Literal["onnx"]
Quantize = Literal["auto", "int8", "none"]

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings; no progress bars.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also the libraries' own messages.")]
TextColumn = Annotated[str | None, typer.Option(help="Text column (default: found from common names).")]
PairColumn = Annotated[
    str | None, typer.Option(help="Second text column: sentence pairs are encoded as real pairs.")
]
LabelColumn = Annotated[str | None, typer.Option(help="Label column (default: found from common names).")]
FORMAT_HELP = "Table format; auto: by the file's extension."
Format = Annotated[str, typer.Option("--format", metavar=_choices(TableFormat), help=FORMAT_HELP)]
CheckFormat = Annotated[  # export's --format is the export's (onnx)
    str, typer.Option("--check-format", metavar=_choices(TableFormat), help=FORMAT_HELP)
]
Encoding = Annotated[str | None, typer.Option(help="Text encoding (default: UTF-8, BOMs detected).")]
Delimiter = Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")]
InferencePrecision = Annotated[
    str, typer.Option(metavar=_choices(Precision), help="auto: bf16 where the hardware runs it fast.")
]
BackendOption = Annotated[
    str,
    typer.Option(metavar=_choices(Backend), help="onnx: the model `textfit export` wrote and checked."),
]
DropInvalid = Annotated[
    bool, typer.Option(help="Drop rows with an empty text or label, and report how many.")
]
GroupColumn = Annotated[
    str | None,
    typer.Option(
        help="Column of groups (a language, a source): rows and labels per group in check, every metric "
        "per group too, weakest first."
    ),
]
TaskOption = Annotated[
    str | None,
    typer.Option(
        "--task",
        metavar=_choices(ModelConfig.model_fields["task"].annotation),
        help="What the labels are (default auto: found from them).",
    ),
]
LabelDelimiter = Annotated[
    str | None, typer.Option(help="Joins several labels in a label cell, e.g. '|': multi-label.")
]
LabelMap = Annotated[
    str | None,
    typer.Option(
        help="Rename labels as they are read, in every file: OLD=NEW,... e.g. 'Spam=spam,1.0=1' "
        "(merges spellings; a name no row has is an error; evaluate's default: the run's data.label_map)."
    ),
]
AllowPickle = Annotated[
    bool, typer.Option(help="Load pickled weights (.bin) where there are no safetensors: they can run code.")
]
TrustRemoteCode = Annotated[
    bool, typer.Option(help="Let the model run its own Python code (off by default).")
]
Dataset = Annotated[
    str | None,
    typer.Option(
        help="Data set instead of TRAIN_FILE: a Hugging Face Hub id (glue, dair-ai/emotion), a folder "
        "laid out like a Hub data set, or a save_to_disk folder."
    ),
]
DatasetConfig = Annotated[str | None, typer.Option(help="Configuration of the data set, e.g. mrpc of glue.")]
TrainSplit = Annotated[
    str | None, typer.Option(help="Split of the data set to train on (default train); slices: train[:2000].")
]
ValidationSplitName = Annotated[
    str | None,
    typer.Option(
        help="Split to validate on (default: validation, valid or dev, else a share of the training "
        "split); none: that share."
    ),
]
TestSplit = Annotated[
    str | None,
    typer.Option(help="Split evaluated after training (default: test, if labelled); none: no test."),
]


class _Messages(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno == logging.WARNING else ""
        return prefix + record.getMessage()


class _AboveTheBars(logging.Handler):
    """Log lines on stderr, written above any progress bar on screen (not into it)."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _setup_output(quiet: bool, verbose: bool) -> None:
    """Textfit's log messages on stderr; the libraries' chatter only with --verbose."""
    handler = _AboveTheBars()
    handler.setFormatter(_Messages())
    package = logging.getLogger("textfit")
    package.handlers[:] = [handler]
    package.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    package.propagate = False
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
        warnings.filterwarnings("ignore")
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # weight-loading bars; the Trainer's have their own switch


@contextlib.contextmanager
def _progress_bar(quiet: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr (None with --quiet).

    The bar shows from the first call and goes when done reaches total; a later call (the validation
    split after the training split) draws a new one.
    """
    if quiet:
        yield None
        return
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=description, total=total, unit=" texts", file=sys.stderr, leave=False))
        bar = bars[0]
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bars.pop().close()

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def _fail(err: TextfitError) -> typer.Exit:
    typer.echo(f"error: {err.message}", err=True)
    if err.hint:
        typer.echo(f"hint: {err.hint}", err=True)
    return typer.Exit(1)


def _reports_errors(command: Callable[P, None]) -> Callable[P, None]:
    """A command whose TextfitError ends as `error:` / `hint:` on stderr and exit 1, not a traceback.

    Anything else keeps its traceback: it is a bug. functools.wraps keeps the signature Typer reads.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except TextfitError as err:
            raise _fail(err) from None

    return run


def _echo_groups(report: dict[str, Any], column: str | None) -> None:
    """The per-group table of a report that has one (data.group_column), weakest group first."""
    from textfit.metrics import format_groups

    if report.get("groups"):
        typer.echo(f"\n  per {column or 'group'}, weakest macro-F1 first:")
        typer.echo(format_groups(report["groups"], column or "group"))


def _data_overrides(**values: Any) -> dict[str, Any]:
    return {f"data.{key}": value for key, value in values.items()}


def _table_overrides(
    table_format: str = "auto", drop_invalid: bool = False, **flags: str | None
) -> dict[str, Any]:
    """The shared table-reading flags (TextColumn ... DropInvalid) as data.* overrides.

    --format auto and no --drop-invalid leave a --config's settings as they are.
    """
    return _data_overrides(
        format=None if table_format == "auto" else table_format, drop_invalid=drop_invalid or None, **flags
    )


def _dataset_overrides(train_file: Path | None, dataset: str | None, **splits: str | None) -> dict[str, Any]:
    """The data set flags as dotted settings; TRAIN_FILE and --dataset together are a usage error."""
    if train_file is not None and dataset is not None:
        raise typer.BadParameter(
            f"give a training file ({train_file}) or --dataset ({dataset}), not both", param_hint="--dataset"
        )
    return _data_overrides(dataset=dataset, **splits)


def _training_config(config: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """The settings of check, train and tune, which need a training file or a data set to read.

    Neither TRAIN_FILE nor --dataset, nor a --config that names one, is a usage error (exit 2).
    """
    from textfit.config.schema import load_config

    cfg = load_config(config, overrides)
    if cfg.data.train_file is None and cfg.data.dataset is None:
        raise typer.BadParameter("give a training file or --dataset NAME (or a --config that names one)")
    return cfg


def _check_choice(value: str, choices: Any, message: str, flag: str) -> None:
    """A command's own closed set of values: another value is a usage error (exit 2)."""
    if value not in get_args(choices):
        raise typer.BadParameter(message.format(value), param_hint=flag)


def _set_overrides(items: list[str] | None) -> dict[str, Any]:
    """The --set KEY=VALUE items as dotted overrides, each VALUE read as YAML; null sets None."""
    import yaml

    from textfit.config.schema import NULL

    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        parsed = yaml.safe_load(value)
        overrides[key.strip()] = NULL if parsed is None else parsed
    return overrides


def _data_config(overrides: dict[str, Any]) -> DataConfig:
    """The data settings of evaluate, predict and export, validated like train's (ConfigError)."""
    from textfit.config.schema import load_config

    return load_config(None, overrides).data


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


@app.command()
@_reports_errors
def check(
    train_file: Annotated[
        Path | None, typer.Argument(help="Training table (CSV, TSV, JSON Lines, Parquet).")
    ] = None,
    validation_file: Annotated[Path | None, typer.Option(help="Validation table.")] = None,
    test_file: Annotated[Path | None, typer.Option(help="Test table.")] = None,
    dataset: Dataset = None,
    dataset_config: DatasetConfig = None,
    train_split: TrainSplit = None,
    validation_split_name: ValidationSplitName = None,
    test_split: TestSplit = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    model: Annotated[
        str | None, typer.Option(help="Whose tokenizer counts the tokens (default minilm).")
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens kept per text (default 256).")] = None,
    task: TaskOption = None,
    label_delimiter: LabelDelimiter = None,
    label_map: LabelMap = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    drop_invalid: DropInvalid = False,
    config: Annotated[Path | None, typer.Option(help="YAML config (e.g. a run's run_config.yaml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the warnings and failures.")] = False,
    verbose: Verbose = False,
) -> None:
    """Check labelled tables before training: columns, rows, labels, repeats, overlap, lengths.

    One line per check (PASS / WARN / FAIL), then the task of the labels; exit status 1 when a
    check fails. Multi-label tables are counted per label; regression targets get their spread.

    \b
    Examples:
      textfit check data.csv --validation-file dev.csv
      textfit check --dataset dair-ai/emotion
    """  # noqa: D301
    from textfit.checks.core import check_data, format_checks

    _setup_output(quiet, verbose)
    given: dict[str, Any] = {
        "--dataset": dataset,
        "--dataset-config": dataset_config,
        "--train-split": train_split,
        "--validation-split-name": validation_split_name,
        "--test-split": test_split,
        "--validation-file": validation_file,
        "--test-file": test_file,
        "--text-column": text_column,
        "--text-pair-column": text_pair_column,
        "--label-column": label_column,
        "--model": model,
        "--max-length": max_length,
        "--task": task,
        "--label-delimiter": label_delimiter,
        "--label-map": label_map,
        "--format": None if table_format == "auto" else table_format,
        "--encoding": encoding,
        "--delimiter": delimiter,
        "--config": config,
    }
    cfg = _training_config(
        config,
        {
            "model.name": model,
            "model.max_length": max_length,
            "model.task": task,
            "data.label_delimiter": label_delimiter,
            **_data_overrides(train_file=train_file, validation_file=validation_file, test_file=test_file),
            **_table_overrides(
                table_format,
                drop_invalid,
                text_column=text_column,
                text_pair_column=text_pair_column,
                label_column=label_column,
                group_column=group_column,
                label_map=label_map,
                encoding=encoding,
                delimiter=delimiter,
            ),
            **_dataset_overrides(
                train_file,
                dataset,
                dataset_config=dataset_config,
                train_split=train_split,
                validation_split_name=validation_split_name,
                test_split=test_split,
            ),
        },
    )
    report = check_data(cfg)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(format_checks(report, quiet))
        args = [shlex.quote(str(train_file))] if train_file is not None else []
        args += [f"{flag} {shlex.quote(str(value))}" for flag, value in given.items() if value is not None]
        args += ["--drop-invalid"] if drop_invalid else []
        group = shlex.quote(group_column) if group_column else None
        if report.failed:
            again = " ".join(args + ([f"--group-column {group}"] if group else []))
            typer.echo(
                f"next: {report.failed[0].hint or 'fix the failures above'}; then textfit check {again}"
            )
        else:  # train runs the same checks, and reports its metrics per group
            args += [f"--group-column {group}"] if group else []
            typer.echo(f"next: textfit train {' '.join(args)}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
@_reports_errors
def train(
    train_file: Annotated[
        Path | None, typer.Argument(help="Training table (CSV, TSV, JSON Lines, Parquet).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (e.g. a run's run_config.yaml); flags win.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Run folder (default runs/<file name>, or runs/<data set>-<config>)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Preset (minilm, mpnet), local model folder, or hub id.")
    ] = None,
    validation_file: Annotated[Path | None, typer.Option(help="Validation table.")] = None,
    validation_split: Annotated[
        float | None, typer.Option(help="Share of the training file held out (default 0.1).")
    ] = None,
    test_file: Annotated[Path | None, typer.Option(help="Test table, evaluated after training.")] = None,
    dataset: Dataset = None,
    dataset_config: DatasetConfig = None,
    train_split: TrainSplit = None,
    validation_split_name: ValidationSplitName = None,
    test_split: TestSplit = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    label_map: LabelMap = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    drop_invalid: DropInvalid = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse the token ids of unchanged texts and tokenizer ($TEXTFIT_CACHE or ~/.cache/textfit).",
        ),
    ] = True,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data (default 3).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default 1e-4).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size (default 32).")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens kept per text (default 256).")] = None,
    precision: Annotated[
        str | None, typer.Option(metavar=_choices(Precision), help="Training precision (default auto).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of split, init and order (default 42).")] = None,
    early_stopping_patience: Annotated[
        int | None, typer.Option(help="Stop after N evaluations without improvement.")
    ] = None,
    report_to: Annotated[
        str | None, typer.Option(help="none (default), tensorboard, mlflow, ... (comma-separated).")
    ] = None,
    trust_remote_code: TrustRemoteCode = False,
    allow_pickle: AllowPickle = False,
    class_weights: Annotated[
        str | None,
        typer.Option(help="Loss weight per class: none (default), balanced, or LABEL=W,... (others 1)."),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            metavar=_choices(TrainConfig.model_fields["loss"].annotation),
            help="Training loss (default cross_entropy).",
        ),
    ] = None,
    task: TaskOption = None,
    label_delimiter: LabelDelimiter = None,
    long_text: Annotated[
        str | None,
        typer.Option(
            metavar=_choices(ModelConfig.model_fields["long_text"].annotation),
            help="Texts over --max-length: cut (default truncate), or read in overlapping windows.",
        ),
    ] = None,
    stride: Annotated[
        int | None, typer.Option(help="Tokens shared by successive windows (default 64).")
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE, e.g. --set train.weight_decay=0.1"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a run folder textfit wrote (never one holding other files).")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue an interrupted run (its --output-dir) from its last checkpoint."),
    ] = None,
    deepspeed: Annotated[
        str | None, typer.Option(help="DeepSpeed config file (JSON), for the Trainer.")
    ] = None,
    fsdp: Annotated[
        str | None, typer.Option(help="FSDP options for the Trainer, e.g. 'full_shard auto_wrap'.")
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
    """  # noqa: D301
    from textfit.config.schema import load_config
    from textfit.metrics import format_report
    from textfit.push import train_and_push as run_training

    main_process = os.environ.get("RANK", "0") == "0"  # set by torchrun and accelerate launch
    _setup_output(quiet or not main_process, verbose)
    if not main_process:  # the others of a distributed run: errors only
        logging.getLogger("textfit").setLevel(logging.ERROR)
    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "model.name": model,
        "model.max_length": max_length,
        "model.trust_remote_code": trust_remote_code or None,
        "model.allow_pickle": allow_pickle or None,
        "train.epochs": epochs,
        "train.learning_rate": learning_rate,
        "train.batch_size": batch_size,
        "train.precision": precision,
        "train.seed": seed,
        "train.early_stopping_patience": early_stopping_patience,
        "train.report_to": report_to.split(",") if report_to else None,
        "train.deepspeed": deepspeed,
        "train.fsdp": fsdp,
        "train.class_weights": class_weights,
        "train.loss": loss,
        "model.task": task,
        "data.label_delimiter": label_delimiter,
        "model.long_text": long_text,
        "model.stride": stride,
        "hub.push_to_hub": push_to_hub,
        **_data_overrides(
            train_file=train_file,
            validation_file=validation_file,
            validation_split=validation_split,
            test_file=test_file,
            cache=None if cache else False,
        ),
        **_table_overrides(
            table_format,
            drop_invalid,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            group_column=group_column,
            label_map=label_map,
            encoding=encoding,
            delimiter=delimiter,
        ),
        **_dataset_overrides(
            train_file,
            dataset,
            dataset_config=dataset_config,
            train_split=train_split,
            validation_split_name=validation_split_name,
            test_split=test_split,
        ),
    }
    overrides |= _set_overrides(setting)
    with _progress_bar(quiet, "tokenizing") as tokenize_progress:
        if resume is not None:  # the saved settings; flags given must agree with them
            given = {key: value for key, value in overrides.items() if value is not None}
            cfg = load_config(config, given) if config is not None else None
            result = run_training(
                cfg,
                resume=resume,
                progress=not quiet,
                tokenize_progress=tokenize_progress,
                inputs=[config] if config else [],
                **({} if cfg else given),
            )
        else:
            cfg = _training_config(config, overrides)
            result = run_training(
                cfg,
                overwrite=overwrite,
                progress=not quiet,
                tokenize_progress=tokenize_progress,
                inputs=[config] if config else [],
            )
    if not result.main_process:
        return
    typer.echo(f"run saved to {result.run_dir}")
    typer.echo(
        f"trained on {result.metrics['train']['samples']} rows in "
        f"{result.metrics['train']['runtime_seconds']:.0f} s ({result.precision})"
    )
    for split in ("validation", "test"):
        if result.metrics.get(split):
            typer.echo("\n" + format_report(result.metrics[split], f"{split}:"))
            _echo_groups(result.metrics[split], result.metrics[split].get("group_column"))
    if result.report_file is not None:
        typer.echo(f"\nreport: {result.report_file} (figures, calibration, the most confident mistakes)")
    if result.pushed is not None:
        typer.echo("")
        _echo_pushed(result.pushed)
    typer.echo(f"\nnext: textfit predict {result.run_dir} new_texts.csv -o predictions.csv")
    if result.push_error is not None:  # the run is saved: say so, and how to push it again
        from textfit.config.schema import load_config
        from textfit.push import retry_command

        hub = load_config(result.run_dir / "run_config.yaml").hub
        _fail(result.push_error)
        typer.echo(
            f"the run is saved in {result.run_dir}; push it with: "
            f"{retry_command(result.run_dir, hub.push_to_hub or 'OWNER/NAME', hub.private)}",
            err=True,
        )
        raise typer.Exit(1)


@app.command()
@_reports_errors
def tune(
    train_file: Annotated[
        Path | None, typer.Argument(help="Training table (CSV, TSV, JSON Lines, Parquet).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config; its tune section holds the search space; flags win.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Study folder (default runs/<file name>-tune)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Preset (minilm, mpnet), local model folder, or hub id.")
    ] = None,
    validation_file: Annotated[
        Path | None, typer.Option(help="Validation table (the trials' metric).")
    ] = None,
    dataset: Dataset = None,
    dataset_config: DatasetConfig = None,
    train_split: TrainSplit = None,
    validation_split_name: ValidationSplitName = None,
    test_split: TestSplit = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    label_map: LabelMap = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    drop_invalid: DropInvalid = False,
    n_trials: Annotated[
        int | None, typer.Option(help="Trials in the study in all, earlier ones counted (default 20).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Start no trial after this many seconds.")] = None,
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
    from textfit.training.tune import SEARCHED
    from textfit.training.tune import tune as run_tune

    _setup_output(quiet, verbose)
    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "model.name": model,
        "tune.n_trials": n_trials,
        "tune.timeout": timeout,
        **_data_overrides(train_file=train_file, validation_file=validation_file),
        **_table_overrides(
            table_format,
            drop_invalid,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            group_column=group_column,
            label_map=label_map,
            encoding=encoding,
            delimiter=delimiter,
        ),
        **_dataset_overrides(
            train_file,
            dataset,
            dataset_config=dataset_config,
            train_split=train_split,
            validation_split_name=validation_split_name,
            test_split=test_split,
        ),
    }
    overrides |= _set_overrides(setting)
    cfg = _training_config(config, overrides)
    result = run_tune(cfg, overwrite=overwrite, progress=not quiet, inputs=[config] if config else [])
    rows = sorted(
        result.trials,
        key=lambda row: (
            row["value"] is None,
            -(row["value"] or 0) if result.direction == "maximize" else row["value"] or 0,
        ),
    )
    names = [name for name in SEARCHED if any(row[name] is not None for row in rows)]
    typer.echo(f"{len(rows)} trials in {result.trials_file}, best first ({result.metric}):")
    typer.echo("  " + "  ".join(f"{h:>13}" for h in ["trial", "state", result.metric, *names]))
    for row in rows:
        cells = [str(row["trial"]), row["state"], "-" if row["value"] is None else f"{row['value']:.4f}"]
        cells += ["-" if row[name] is None else f"{row[name]:.4g}" for name in names]
        typer.echo("  " + "  ".join(f"{cell:>13}" for cell in cells))
    if result.best_dir is None:
        typer.echo("error: no trial completed (every trial was pruned or failed)", err=True)
        typer.echo("hint: run the same command again with a larger --n-trials to go on", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"\nbest: trial {result.best_trial}, {result.metric} {result.best_value:.4f}; "
        f"run saved to {result.best_dir}"
    )
    typer.echo(f"next: textfit evaluate {result.best_dir} test.csv")


@app.command()
@_reports_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    data_file: Annotated[Path, typer.Argument(help="Labelled table to evaluate on.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Metrics JSON (default RUN_DIR/eval-<file>.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    label_map: LabelMap = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    drop_invalid: DropInvalid = False,
    precision: InferencePrecision = "auto",
    report: Annotated[
        bool, typer.Option(help="Write report-<file>.html and figures-<file>/ beside the metrics JSON.")
    ] = True,
    allow_pickle: AllowPickle = False,
    trust_remote_code: TrustRemoteCode = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Evaluate a trained run on a labelled table: a readable table, the metrics as JSON, a report.

    \b
    Example:
      textfit evaluate runs/train test.csv
    """  # noqa: D301
    from textfit.evaluation import evaluate as evaluate_run
    from textfit.metrics import format_report

    _setup_output(quiet, verbose)
    cfg = _data_config(
        _table_overrides(
            table_format,
            drop_invalid,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            group_column=group_column,
            label_map=label_map,
            encoding=encoding,
            delimiter=delimiter,
        )
    )
    with _progress_bar(quiet, "evaluating") as progress:
        result = evaluate_run(
            run_dir,
            data_file,
            cfg,
            output,
            progress=progress,
            precision=precision,
            report=report,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
        )
    if as_json:
        typer.echo(json.dumps(result.metrics, indent=2))
    else:
        typer.echo(format_report(result.metrics, f"{data_file} ({result.metrics['samples']} rows):"))
        _echo_groups(result.metrics, result.metrics.get("group_column"))
        if result.predictions_file is not None:
            typer.echo(f"\npredictions written to {result.predictions_file}")
        if result.report_file is not None:
            typer.echo(f"report written to {result.report_file}")
        typer.echo(f"metrics written to {result.output}")
        typer.echo(f"next: textfit predict {run_dir} new_texts.csv -o predictions.csv")


@app.command("report")
@_reports_errors
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
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

    _setup_output(quiet, verbose)
    path = write_report(run_dir, split)
    typer.echo(str(path))


@app.command()
@_reports_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    input_file: Annotated[
        str | None, typer.Argument(help="Table of texts to classify; - reads stdin.")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file (.csv, .tsv, .jsonl); - is stdout.")
    ] = "-",
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="A text to classify (repeatable).")
    ] = None,
    top_k: Annotated[int, typer.Option(help="How many top labels to give per text.")] = 3,
    batch_size: Annotated[
        int, typer.Option(help="Most texts per forward pass (twice this for BERT on a CPU: packed tokens).")
    ] = 64,
    precision: InferencePrecision = "auto",
    backend: BackendOption = "torch",
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    allow_pickle: AllowPickle = False,
    trust_remote_code: TrustRemoteCode = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Predict labels with probabilities for a table's rows, or for texts given with --text.

    Every input row is kept, with predicted_label, predicted_probability and top_k added; a row
    whose text is empty or whitespace only gets no prediction (empty cells; null in JSON Lines).

    \b
    Examples:
      textfit predict runs/train new.csv -o predictions.csv
      textfit predict runs/train --text "free prize, call now" --text "see you at lunch"
    """  # noqa: D301
    from textfit.inference.classifier import Classifier, predict_file

    _setup_output(quiet, verbose)
    if (input_file is None) == (not text):
        raise typer.BadParameter("give either an input file or one or more --text")
    _check_choice(backend, Backend, "unknown backend {!r}: torch or onnx", "--backend")
    empty = [str(number) for number, given in enumerate(text or [], 1) if not given.strip()]
    if empty:  # predict.check_texts' rule: an empty text has no prediction
        raise typer.BadParameter(
            f"text {', '.join(empty)} is empty: give texts with at least one visible character",
            param_hint="--text",
        )
    started = time.perf_counter()
    classifier: Classifier
    if backend == "onnx":
        from textfit.inference.onnx import OnnxClassifier

        classifier = OnnxClassifier.load(run_dir, batch_size=batch_size)
    else:
        classifier = Classifier.load(
            run_dir,
            batch_size=batch_size,
            precision=precision,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
        )
    if text:
        for given, prediction in zip(text, classifier.predict(text, top_k=top_k), strict=True):
            shown = prediction.labels if classifier.task == "multi_label" else prediction.top_k[1:]
            others = ", ".join(f"{label} {p:.3f}" for label, p in shown)
            typer.echo(
                f"{prediction.label}\t{prediction.score:.3f}\t{given}" + (f"\t({others})" if others else "")
            )
        return
    cfg = _data_config(
        _table_overrides(
            table_format,
            text_column=text_column,
            text_pair_column=text_pair_column,
            encoding=encoding,
            delimiter=delimiter,
        )
    )
    loaded = time.perf_counter()
    with _progress_bar(quiet, "predicting") as progress:
        rows = predict_file(run_dir, str(input_file), output, cfg, top_k, classifier, progress)
    seconds = time.perf_counter() - loaded
    if output != "-" and not quiet:
        typer.echo(
            f"{rows} rows with predictions written to {output} in {seconds:.2f} s "
            f"({rows / max(seconds, 1e-9):.0f} rows/s; the model loaded in {loaded - started:.2f} s)",
            err=True,
        )
        typer.echo(f"next: textfit evaluate {run_dir} labelled.csv", err=True)


@app.command("export")
@_reports_errors
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    export_format: Annotated[
        str, typer.Option("--format", metavar=_choices(ExportFormat), help="onnx: for ONNX Runtime.")
    ] = "onnx",
    quantize: Annotated[
        str,
        typer.Option(metavar=_choices(Quantize), help="auto: int8 where the CPU has int8 dot products."),
    ] = "auto",
    check: Annotated[
        Path | None,
        typer.Option(
            help="Table to compare with PyTorch on (with labels: the F1 or RMSE bound too); default: the "
            "run's test file, else its validation file."
        ),
    ] = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    check_format: CheckFormat = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
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
    from textfit.inference.onnx import check_bounds, default_check_file, export_onnx, format_check_table

    _setup_output(quiet, verbose)
    _check_choice(export_format, ExportFormat, "unknown format {!r}: onnx", "--format")
    _check_choice(quantize, Quantize, "unknown --quantize {!r}: int8, none or auto", "--quantize")
    cfg = _data_config(
        _table_overrides(
            check_format,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            encoding=encoding,
            delimiter=delimiter,
        )
    )
    check = check or default_check_file(run_dir)
    checks = export_onnx(run_dir, check, cfg, None if quantize == "auto" else quantize == "int8")
    task = checks[0].task if checks else "single_label"
    typer.echo(f"checked on {check} against PyTorch fp32 (bounds: {check_bounds(task)})")
    typer.echo("\n".join(format_check_table(checks)))
    failed = [c.model for c in checks if not c.passed]
    if failed:
        usable = [c.model for c in checks if c.passed]
        typer.echo(
            f"error: the {' and '.join(failed)} export disagrees with PyTorch beyond the bounds; "
            f"it is not used (figures in {run_dir / 'onnx' / 'check.json'})",
            err=True,
        )
        typer.echo(
            f"hint: --backend onnx uses the {usable[0]} model"
            if usable
            else "hint: predict and serve with PyTorch (the default backend)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"\nwritten to {run_dir / 'onnx'}; next: textfit serve {run_dir} --backend onnx")


@app.command()
@_reports_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than 127.0.0.1 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    backend: BackendOption = "torch",
    precision: InferencePrecision = "auto",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TEXTFIT_API_KEY",
            show_envvar=True,
            help="Key that /predict and /info require (X-API-Key or Authorization: Bearer).",
        ),
    ] = None,
    max_texts: Annotated[int, typer.Option(min=1, help="Most texts per request.")] = 256,
    max_chars: Annotated[int, typer.Option(min=1, help="Most characters per text.")] = 20_000,
    max_batch: Annotated[int, typer.Option(min=1, help="Most texts the model runs at once.")] = 64,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a request waits for others to batch with.")
    ] = 5.0,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="CPU threads of the model (default: the library's, one per core)."),
    ] = None,
    allow_pickle: AllowPickle = False,
    trust_remote_code: TrustRemoteCode = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health, GET /info, a page at /, the API at /docs.

    \b
    Example:
      textfit serve runs/train
      curl -s localhost:8000/predict -H 'Content-Type: application/json' -d '{"text": "free prize"}'
    """  # noqa: D301
    from textfit.inference.classifier import Classifier
    from textfit.serve.app import ServeSettings, run_info
    from textfit.serve.app import serve as run_server

    _setup_output(quiet, verbose)
    _check_choice(backend, Backend, "unknown backend {!r}: torch or onnx", "--backend")
    classifier: Classifier
    if backend == "onnx":
        from textfit.inference.onnx import OnnxClassifier

        classifier = OnnxClassifier.load(run_dir, batch_size=max_batch, threads=threads)
    else:
        if threads:
            import torch

            torch.set_num_threads(threads)
        classifier = Classifier.load(
            run_dir,
            batch_size=max_batch,
            precision=precision,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
        )
    settings = ServeSettings(
        max_texts=max_texts,
        max_chars=max_chars,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        api_key=api_key or None,
    )
    info = run_info(run_dir)
    where = f"[{host}]" if ":" in host else host
    typer.echo(f"serving {run_dir} on http://{where}:{port}/ (API at /docs; Ctrl-C stops)", err=True)
    run_server(classifier, host, port, settings, info, "warning" if quiet else "debug" if verbose else "info")


def _echo_pushed(pushed: PushResult) -> None:
    """What a push uploaded (one file a line), where, and what it left out and why."""
    typer.echo(
        f"pushed to {pushed.url} ({'private' if pushed.private else 'public'}, branch {pushed.revision})"
    )
    typer.echo(f"commit: {pushed.commit_url}")
    typer.echo(f"uploaded {len(pushed.uploaded)} files:")
    for name in pushed.uploaded:
        typer.echo(f"  {name}")
    by_reason: dict[str, list[str]] = {}
    for name, reason in pushed.left_out.items():
        by_reason.setdefault(reason, []).append(name)
    if by_reason:
        typer.echo("left out:")
    for reason, names in by_reason.items():
        typer.echo(f"  {', '.join(names)}: {reason}")


@app.command()
@_reports_errors
def push(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    repo_id: Annotated[str, typer.Argument(help="Hub model repo, OWNER/NAME (created when missing).")],
    private: Annotated[
        bool,
        typer.Option(
            "--private/--public",
            help="Create the repo private (default) or public; pushing to a public repo needs --public.",
        ),
    ] = True,
    revision: Annotated[
        str | None, typer.Option(help="Branch to commit to (created when missing; default main).")
    ] = None,
    commit_message: Annotated[
        str | None, typer.Option(help="Commit message (default: Upload <run> with textfit <version>).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Hub token with write access (default: HF_TOKEN, else the `hf auth login` one)."),
    ] = None,
    include_data_files: Annotated[
        bool,
        typer.Option(
            help="Also upload predictions-*.parquet, report*.html, eval-*: they hold rows of your data."
        ),
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Push a run to a Hugging Face Hub model repo: model, model card with metadata, metrics, figures.

    One commit; files that hold rows of your data stay behind unless --include-data-files. The run
    folder is not changed.

    \b
    Example:
      textfit push runs/train your-name/reviews-classifier
    """  # noqa: D301
    from textfit.push import push_run

    _setup_output(quiet, verbose)
    pushed = push_run(
        run_dir,
        repo_id,
        token=token,
        private=private,
        revision=revision,
        commit_message=commit_message,
        include_data_files=include_data_files,
    )
    _echo_pushed(pushed)
    typer.echo(
        f'next: pipeline("text-classification", model="{pushed.repo_id}") loads it from the Hub'
        + (" (a private repo: with your token)" if pushed.private else "")
    )


@app.command("init-config")
@_reports_errors
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


def main() -> None:
    """Entry point of the `textfit` command."""
    app()
