"""Which folders textfit may replace or delete, the checks before a run is written, and its move into place.

`--overwrite` replaces a folder only when textfit wrote it (its textfit-run.json, or a run written
before the marker: run_config.yaml and nothing textfit does not write), never one holding an input.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textfit.errors import ConfigError, list_problems
from textfit.runs.layout import (
    MARKER,
    UNMARKED_KEYS,
    WRITTEN_NAMES,
    has_marker,
    old_dir_of,
    partial_dir_of,
    write_marker,
)

if TYPE_CHECKING:
    from textfit.config.schema import RunConfig

logger = logging.getLogger(__name__)

INPUTS_HINT = "pass --output-dir with a folder that holds none of the input files"
REPLACE_HINT = (
    "pass --output-dir with a new folder, or move those files out of it; "
    "--overwrite replaces only a folder textfit wrote"
)


def foreign_entries(folder: Path, names: Iterable[str] = WRITTEN_NAMES) -> list[str]:
    """The entries at the top of folder that match none of names (fnmatch patterns), sorted."""
    patterns = tuple(names)
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in patterns)
    )


def not_written_by_textfit(folder: Path) -> str | None:
    """Why textfit may not delete folder; None when it may (missing, empty, or only what textfit wrote)."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "it is a file"
    if not any(folder.iterdir()):
        return None
    if foreign := foreign_entries(folder):
        return "it holds files textfit did not write: " + list_problems([repr(name) for name in foreign])
    if not has_marker(folder) and not any((folder / key).exists() for key in UNMARKED_KEYS):
        return f"textfit did not write it: it has no {MARKER} or {UNMARKED_KEYS[0]}"
    return None


def check_written_by_textfit(folder: Path, hint: str) -> None:
    """Refuse to delete or replace folder unless textfit wrote it and it holds nothing else.

    Raises:
        ConfigError: naming the folder and the entries textfit did not write, with `hint`.
    """
    reason = not_written_by_textfit(folder)
    if reason is not None:
        raise ConfigError(f"{folder} cannot be replaced: {reason}", hint=hint)


def remove_written_folder(folder: Path, hint: str) -> None:
    """Delete a folder textfit wrote (nothing if it is missing); refuse one holding anything else.

    Raises:
        ConfigError: folder holds entries textfit did not write (see check_written_by_textfit).
    """
    check_written_by_textfit(folder, hint)
    shutil.rmtree(folder, ignore_errors=True)


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def run_inputs(cfg: RunConfig) -> list[Path]:
    """The local files and folders a run reads: data files or data set, model folder, DeepSpeed file."""
    data = cfg.data
    paths = [data.train_file, data.validation_file, data.test_file]
    for name in (data.dataset, cfg.model.name, cfg.train.deepspeed):  # also hub ids: local only if there
        if name and Path(name).expanduser().exists():
            paths.append(Path(name).expanduser())
    return [path for path in paths if path is not None]


def check_inputs_outside(folders: Iterable[Path], inputs: Iterable[Path | str | None], hint: str) -> None:
    """Refuse to write folders when one of them holds (at any depth) or is an input of the command.

    Raises:
        ConfigError: naming the folder and the input file, with `hint`.
    """
    given = [Path(path).expanduser() for path in inputs if path is not None and str(path)]
    for folder in folders:
        for path in given:
            if folder.exists() and path.exists() and _within(path, folder):
                shown = "is" if path.resolve() == folder.resolve() else "holds"
                raise ConfigError(
                    f"{folder} {shown} {path}, which this command reads: textfit never replaces it",
                    hint=hint,
                )


def check_output_dir(run_dir: Path, overwrite: bool, inputs: Iterable[Path | str | None] = ()) -> None:
    """Refuse to write a run to run_dir where that would delete anything textfit did not write.

    The run is written to RUN.partial and an old run it replaces moves to RUN.old until then: all
    three must hold only what textfit wrote, and none of them an input of the command.

    Raises:
        ConfigError: run_dir is a file; it, RUN.partial or RUN.old holds an input file or files
            textfit did not write; or it exists, is not empty, and overwrite is False.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file", hint="pass --output-dir with a folder path")
    partial, old = partial_dir_of(run_dir), old_dir_of(run_dir)
    check_inputs_outside([run_dir, partial, old], inputs, INPUTS_HINT)
    check_written_by_textfit(run_dir, REPLACE_HINT)
    for folder in (partial, old):
        check_written_by_textfit(
            folder,
            hint=f"textfit writes the run to {partial} until it is complete (an old run waits in {old}): "
            "move that folder away, or pass another --output-dir",
        )
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise ConfigError(
            f"run folder {run_dir} already exists",
            hint="pass --overwrite to replace it, or --output-dir to write somewhere else",
        )


def finish_run(partial_dir: Path, run_dir: Path) -> None:
    """Move a finished folder (RUN.partial) into place; an old run it replaces is removed only after.

    Raises:
        ConfigError: RUN or RUN.old holds files textfit did not write (nothing is moved then).
    """
    old = old_dir_of(run_dir)
    hint = f"the finished run is in {partial_dir}: move it where you want it"
    check_written_by_textfit(run_dir, hint)
    remove_written_folder(old, hint)
    if run_dir.exists():
        run_dir.rename(old)
    partial_dir.rename(run_dir)
    remove_written_folder(old, hint)


def copy_run(source: Path, target: Path, hint: str) -> None:
    """Copy a run folder to target through TARGET.partial, then move it into place (`finish_run`).

    The copy is textfit's (a model folder without the marker gets one), so it may be replaced later.

    Raises:
        ConfigError: TARGET.partial, target or TARGET.old holds files textfit did not write (`hint`).
    """
    partial = partial_dir_of(target)
    remove_written_folder(partial, hint)
    shutil.copytree(source, partial)
    if not has_marker(partial):
        write_marker(partial, "train")
    finish_run(partial, target)
