"""`textfit predict`: labels and probabilities for a table's rows, or for texts given with --text."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Annotated

import typer

from textfit.cli.options import (
    BackendOption,
    FastPaths,
    InferencePrecision,
    LoadOptions,
    Quiet,
    RunDir,
    TableOptions,
    Verbose,
    fast_path_names,
    option_groups,
)
from textfit.cli.output import progress_bar, reports_errors, setup_output
from textfit.cli.settings import data_config

if TYPE_CHECKING:
    from pathlib import Path

    from textfit.inference.classifier import Classifier


@reports_errors
@option_groups
def predict(
    run_dir: RunDir,
    input_file: Annotated[
        str | None, typer.Argument(help="Table of texts to classify; - reads stdin.")
    ] = None,
    *,
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
    fast_paths: FastPaths = "all",
    backend: BackendOption = "torch",
    table: TableOptions,
    load: LoadOptions,
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
    from textfit.inference.files import predict_file

    setup_output(quiet, verbose)
    _check_input(input_file, text)
    started = time.perf_counter()
    classifier = load_classifier(run_dir, backend, batch_size, precision, load, fast_paths=fast_paths)
    if text:
        _echo_predictions(classifier, text, top_k)
        return
    cfg = data_config(table.overrides())
    loaded = time.perf_counter()
    with progress_bar(quiet, "predicting") as progress:
        rows = predict_file(run_dir, str(input_file), output, cfg, top_k, classifier, progress)
    seconds = time.perf_counter() - loaded
    if output != "-" and not quiet:
        typer.echo(
            f"{rows} rows with predictions written to {output} in {seconds:.2f} s "
            f"({rows / max(seconds, 1e-9):.0f} rows/s; the model loaded in {loaded - started:.2f} s)",
            err=True,
        )
        typer.echo(f"next: textfit evaluate {run_dir} labelled.csv", err=True)


def _check_input(input_file: str | None, texts: list[str] | None) -> None:
    """An input file or texts, not both; every text with a visible character (else exit 2)."""
    if (input_file is None) == (not texts):
        raise typer.BadParameter("give either an input file or one or more --text")
    empty = [str(number) for number, given in enumerate(texts or [], 1) if not given.strip()]
    if empty:  # predict.check_texts' rule: an empty text has no prediction
        raise typer.BadParameter(
            f"text {', '.join(empty)} is empty: give texts with at least one visible character",
            param_hint="--text",
        )


def load_classifier(
    run_dir: Path,
    backend: str,
    batch_size: int,
    precision: str,
    load: LoadOptions,
    threads: int | None = None,
    fast_paths: str = "all",
) -> Classifier:
    """The run's model with PyTorch, or the ONNX export `textfit export` checked (predict, serve)."""
    from textfit.inference.classifier import Classifier

    if backend == "onnx":
        from textfit.inference.onnx import OnnxClassifier

        return OnnxClassifier.load(run_dir, batch_size=batch_size, threads=threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return Classifier.load(
        run_dir,
        batch_size=batch_size,
        precision=precision,
        fast_paths=fast_path_names(fast_paths),
        **dataclasses.asdict(load),
    )


def _echo_predictions(classifier: Classifier, texts: list[str], top_k: int) -> None:
    """A line per text: label, score, the text, and the other top labels (multi-label: all given)."""
    for given, prediction in zip(texts, classifier.predict(texts, top_k=top_k), strict=True):
        shown = prediction.labels if classifier.task.has_lists else prediction.top_k[1:]
        others = ", ".join(f"{label} {p:.3f}" for label, p in shown)
        typer.echo(
            f"{prediction.label}\t{prediction.score:.3f}\t{given}" + (f"\t({others})" if others else "")
        )
