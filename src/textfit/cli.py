"""The `textfit` command line: flags -> RunConfig -> one library call -> printed results, exit code."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from textfit.config import DataConfig
from textfit.errors import TextfitError

app = typer.Typer(
    name="textfit",
    help="Fine-tune a pretrained transformer into a text classifier from a labelled file.\n\n"
    "Quick start: textfit train data.csv --test-file test.csv, then "
    "textfit predict runs/data new.csv -o predictions.csv",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings; no progress bars.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also the libraries' own messages.")]
TextColumn = Annotated[str | None, typer.Option(help="Text column (default: found from common names).")]
PairColumn = Annotated[
    str | None, typer.Option(help="Second text column: sentence pairs are encoded as real pairs.")
]
LabelColumn = Annotated[str | None, typer.Option(help="Label column (default: found from common names).")]
Format = Annotated[str, typer.Option("--format", help="auto (by extension), csv, tsv, jsonl, parquet.")]
Encoding = Annotated[str | None, typer.Option(help="Text encoding (default: UTF-8, BOMs detected).")]
Delimiter = Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")]
InferencePrecision = Annotated[
    str, typer.Option(help="auto (bf16 where the hardware runs it fast), fp32, bf16, fp16.")
]
DropInvalid = Annotated[
    bool, typer.Option(help="Drop rows with an empty text or label, and report how many.")
]


class _Messages(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno == logging.WARNING else ""
        return prefix + record.getMessage()


def _setup_output(quiet: bool, verbose: bool) -> None:
    """Textfit's log messages on stderr; the libraries' chatter only with --verbose."""
    handler = logging.StreamHandler(sys.stderr)
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
    """A progress callback drawing a bar on stderr (None with --quiet)."""
    if quiet:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(desc=description, unit=" texts", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _fail(err: TextfitError) -> typer.Exit:
    typer.echo(f"error: {err.message}", err=True)
    if err.hint:
        typer.echo(f"hint: {err.hint}", err=True)
    return typer.Exit(1)


def _data_overrides(**values: Any) -> dict[str, Any]:
    return {f"data.{key}": value for key, value in values.items()}


def _data_config(**values: Any) -> DataConfig:
    """The data settings of evaluate / predict, validated like train's (ConfigError, not a traceback)."""
    from textfit.config import load_config

    return load_config(None, _data_overrides(**values)).data


def _version(value: bool) -> None:
    if value:
        from textfit import __version__

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
def train(
    train_file: Annotated[
        Path | None, typer.Argument(help="Training table (CSV, TSV, JSON Lines, Parquet).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (e.g. a run's run_config.yaml); flags win.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Run folder (default runs/<file name>)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Preset (minilm, mpnet), local model folder, or hub id.")
    ] = None,
    validation_file: Annotated[Path | None, typer.Option(help="Validation table.")] = None,
    validation_split: Annotated[
        float | None, typer.Option(help="Share of the training file held out (default 0.1).")
    ] = None,
    test_file: Annotated[Path | None, typer.Option(help="Test table, evaluated after training.")] = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
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
    precision: Annotated[str | None, typer.Option(help="auto (default), fp32, bf16, fp16.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of split, init and order (default 42).")] = None,
    early_stopping_patience: Annotated[
        int | None, typer.Option(help="Stop after N evaluations without improvement.")
    ] = None,
    report_to: Annotated[
        str | None, typer.Option(help="none (default), tensorboard, mlflow, ... (comma-separated).")
    ] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Let a hub model run its own code (off by default).")
    ] = False,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE, e.g. --set train.weight_decay=0.1"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
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
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Fine-tune a model on a labelled table, evaluate it, and save the run.

    Example: textfit train data.csv --test-file test.csv --epochs 2
    Resume an interrupted run: textfit train --resume runs/data
    Several processes: torchrun --nproc_per_node 2 -m textfit train data.csv
    """
    import yaml

    from textfit.config import load_config
    from textfit.metrics import format_report
    from textfit.train import train as run_training

    main_process = os.environ.get("RANK", "0") == "0"  # set by torchrun and accelerate launch
    _setup_output(quiet or not main_process, verbose)
    if not main_process:  # the others of a distributed run: errors only
        logging.getLogger("textfit").setLevel(logging.ERROR)
    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "model.name": model,
        "model.max_length": max_length,
        "model.trust_remote_code": trust_remote_code or None,
        "train.epochs": epochs,
        "train.learning_rate": learning_rate,
        "train.batch_size": batch_size,
        "train.precision": precision,
        "train.seed": seed,
        "train.early_stopping_patience": early_stopping_patience,
        "train.report_to": report_to.split(",") if report_to else None,
        "train.deepspeed": deepspeed,
        "train.fsdp": fsdp,
        **_data_overrides(
            train_file=train_file,
            validation_file=validation_file,
            validation_split=validation_split,
            test_file=test_file,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            format=None if table_format == "auto" else table_format,
            encoding=encoding,
            delimiter=delimiter,
            drop_invalid=drop_invalid or None,
            cache=None if cache else False,
        ),
    }
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = yaml.safe_load(value)
    try:
        if resume is not None:  # the saved settings; flags given must agree with them
            given = {key: value for key, value in overrides.items() if value is not None}
            cfg = load_config(config, given) if config is not None else None
            result = run_training(cfg, resume=resume, progress=not quiet, **({} if cfg else given))
        else:
            cfg = load_config(config, overrides)
            if cfg.data.train_file is None:
                raise typer.BadParameter("give a training file (or a --config that names one)")
            result = run_training(cfg, overwrite=overwrite, progress=not quiet)
    except TextfitError as err:
        raise _fail(err) from None
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
    typer.echo(f"\nnext: textfit predict {result.run_dir} new_texts.csv -o predictions.csv")


@app.command()
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
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    drop_invalid: DropInvalid = False,
    precision: InferencePrecision = "auto",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Evaluate a trained run on a labelled table: a readable table, and the metrics as JSON.

    Example: textfit evaluate runs/train test.csv
    """
    from textfit.evaluation import evaluate as evaluate_run
    from textfit.metrics import format_report

    _setup_output(quiet, verbose)
    try:
        cfg = _data_config(
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            format=table_format,
            encoding=encoding,
            delimiter=delimiter,
            drop_invalid=drop_invalid,
        )
        with _progress_bar(quiet, "evaluating") as progress:
            report = evaluate_run(run_dir, data_file, cfg, output, progress=progress, precision=precision)
    except TextfitError as err:
        raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps(report.metrics, indent=2))
    else:
        typer.echo(format_report(report.metrics, f"{data_file} ({report.metrics['samples']} rows):"))
        typer.echo(f"\nmetrics written to {report.output}")


@app.command()
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
    batch_size: Annotated[int, typer.Option(help="Most texts per forward pass.")] = 64,
    precision: InferencePrecision = "auto",
    backend: Annotated[
        str,
        typer.Option(help="torch (default), or onnx: the model `textfit export-onnx` wrote and checked."),
    ] = "torch",
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    table_format: Format = "auto",
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Predict labels with probabilities for a table's rows, or for texts given with --text.

    Every input row is kept, with predicted_label, predicted_probability and top_k added.
    Example: textfit predict runs/train new.csv -o predictions.csv
    """
    from textfit.predict import Classifier, predict_file

    _setup_output(quiet, verbose)
    if (input_file is None) == (not text):
        raise typer.BadParameter("give either an input file or one or more --text")
    if backend not in ("torch", "onnx"):
        raise typer.BadParameter(f"unknown backend {backend!r}: torch or onnx", param_hint="--backend")
    try:
        classifier: Classifier
        if backend == "onnx":
            from textfit.onnx_runtime import OnnxClassifier

            classifier = OnnxClassifier.load(run_dir, batch_size=batch_size)
        else:
            classifier = Classifier.load(run_dir, batch_size=batch_size, precision=precision)
        if text:
            for given, prediction in zip(text, classifier.predict(text, top_k=top_k), strict=True):
                others = ", ".join(f"{label} {p:.3f}" for label, p in prediction.top_k[1:])
                typer.echo(
                    f"{prediction.label}\t{prediction.score:.3f}\t{given}"
                    + (f"\t({others})" if others else "")
                )
            return
        cfg = _data_config(
            text_column=text_column,
            text_pair_column=text_pair_column,
            format=table_format,
            encoding=encoding,
            delimiter=delimiter,
        )
        with _progress_bar(quiet, "predicting") as progress:
            rows = predict_file(run_dir, str(input_file), output, cfg, top_k, classifier, progress)
    except TextfitError as err:
        raise _fail(err) from None
    if output != "-":
        typer.echo(f"{rows} rows with predictions written to {output}", err=True)


@app.command("export-onnx")
def export_onnx(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by textfit train.")],
    check: Annotated[
        Path, typer.Option(help="Table to compare ONNX with PyTorch on (with labels: the F1 bound too).")
    ],
    int8: Annotated[
        bool | None,
        typer.Option(help="Also write an int8 model (default: where the CPU has int8 dot products)."),
    ] = None,
    text_column: TextColumn = None,
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Export a run's model to RUN/onnx for ONNX Runtime (fp32, int8) and check it against PyTorch.

    `textfit predict RUN file --backend onnx` then uses the int8 model where it passed the check.
    Example: textfit export-onnx runs/train --check test.csv
    """
    from textfit.onnx_runtime import MAX_F1_DROP, MIN_AGREEMENT
    from textfit.onnx_runtime import export_onnx as export

    _setup_output(quiet, verbose)
    try:
        cfg = _data_config(
            text_column=text_column, text_pair_column=text_pair_column, label_column=label_column
        )
        checks = export(run_dir, check, cfg, int8)
    except TextfitError as err:
        raise _fail(err) from None
    typer.echo(
        f"checked on {check} against PyTorch fp32 (bounds: labels agree on >= {MIN_AGREEMENT:.0%}, "
        f"macro-F1 at most {MAX_F1_DROP:.3f} lower)"
    )
    typer.echo(
        "| model | labels agree | largest probability difference | macro-F1 | PyTorch macro-F1 | passed |"
    )
    typer.echo("|---|---:|---:|---:|---:|---|")
    for c in checks:
        f1 = "-" if c.f1_macro is None else f"{c.f1_macro:.4f}"
        f1_pytorch = "-" if c.f1_macro_pytorch is None else f"{c.f1_macro_pytorch:.4f}"
        typer.echo(
            f"| {c.model} | {c.agreement:.2%} | {c.max_probability_difference:.3g} | {f1} | {f1_pytorch} | "
            f"{'yes' if c.passed else 'no'} |"
        )
    typer.echo(f"\nwritten to {run_dir / 'onnx'}; next: textfit predict {run_dir} new.csv --backend onnx")


def main() -> None:
    """Entry point of the `textfit` command."""
    app()
