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
