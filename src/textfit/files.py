"""The one atomic writer: every file textfit writes goes to a temporary name beside it, then is renamed.

A reader never sees a half-written file, and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textfit.errors import ConfigError


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary path) beside `path`, then rename the file over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies, as for open()
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write text as UTF-8, line ends as given."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    write_atomic(path, write)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write `value` as JSON, indented by 2 (non-ASCII escaped, as json.dumps does), with a final line end."""
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


def check_file_to_write(path: Path, overwrite: bool, flag: str, example: str) -> None:
    """Fail unless a file the user named may be written: not a folder, and new unless `overwrite`.

    Args:
        path: the file.
        overwrite: whether --overwrite was given.
        flag: the flag that names the file (-o, --label-errors-out), for the hints.
        example: a file name to show with the flag.

    Raises:
        ConfigError: naming the file, with the flag that allows it.
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a folder", hint=f"pass a file name, e.g. {flag} {example}")
    if path.exists() and not overwrite:
        raise ConfigError(
            f"{path} already exists; textfit does not replace it",
            hint=f"pass --overwrite to replace it, or {flag} to write another file",
        )
