"""`textfit serve`: a run's model behind HTTP (POST /predict, a page at /, the API at /docs)."""

from __future__ import annotations

from typing import Annotated

import typer

from textfit.cli.options import (
    BackendOption,
    FastPaths,
    InferencePrecision,
    LoadOptions,
    Quiet,
    RunDir,
    Verbose,
    option_groups,
)
from textfit.cli.output import reports_errors, setup_output
from textfit.cli.predict import load_classifier


@reports_errors
@option_groups
def serve(
    run_dir: RunDir,
    *,
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than 127.0.0.1 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    backend: BackendOption = "torch",
    precision: InferencePrecision = "auto",
    fast_paths: FastPaths = "all",
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
    load: LoadOptions,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health, GET /info, a page at /, the API at /docs.

    \b
    Example:
      textfit serve runs/train
      curl -s localhost:8000/predict -H 'Content-Type: application/json' -d '{"text": "free prize"}'
    """  # noqa: D301
    from textfit.serve.app import ServeSettings, run_info
    from textfit.serve.app import serve as run_server

    setup_output(quiet, verbose)
    classifier = load_classifier(run_dir, backend, max_batch, precision, load, threads, fast_paths)
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
