"""What the commands write to the terminal besides results: log lines, progress bars, `error:` / `hint:`."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec

import typer

from textfit.errors import TextfitError

P = ParamSpec("P")


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


def setup_output(quiet: bool, verbose: bool) -> None:
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
        # Appended: the filters already there (python -W, PYTHONWARNINGS, pytest's) still come first.
        warnings.filterwarnings("ignore", append=True)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # weight-loading bars; the Trainer's have their own switch


@contextlib.contextmanager
def progress_bar(quiet: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
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


def fail(err: TextfitError) -> typer.Exit:
    """Print `error:` (and `hint:`) on stderr; the exit (status 1) to raise."""
    typer.echo(f"error: {err.message}", err=True)
    if err.hint:
        typer.echo(f"hint: {err.hint}", err=True)
    return typer.Exit(1)


def reports_errors(command: Callable[P, None]) -> Callable[P, None]:
    """A command whose TextfitError ends as `error:` / `hint:` on stderr and exit 1, not a traceback.

    Anything else keeps its traceback: it is a bug. functools.wraps keeps the signature Typer reads.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except TextfitError as err:
            raise fail(err) from None

    return run
