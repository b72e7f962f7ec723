"""`textfit push`: a run to a Hugging Face Hub model repo, and what was uploaded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from textfit.cli.options import Quiet, RunDir, Verbose
from textfit.cli.output import reports_errors, setup_output

if TYPE_CHECKING:
    from textfit.push import PushResult


@reports_errors
def push(
    run_dir: RunDir,
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

    setup_output(quiet, verbose)
    pushed = push_run(
        run_dir,
        repo_id,
        token=token,
        private=private,
        revision=revision,
        commit_message=commit_message,
        include_data_files=include_data_files,
    )
    echo_pushed(pushed)
    typer.echo(
        f'next: pipeline("text-classification", model="{pushed.repo_id}") loads it from the Hub'
        + (" (a private repo: with your token)" if pushed.private else "")
    )


def echo_pushed(pushed: PushResult) -> None:
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
