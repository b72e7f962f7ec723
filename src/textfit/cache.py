"""The folder where textfit keeps what it builds once and reuses: extracted models, tokenized data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$TEXTFIT_CACHE when set, else ~/.cache/textfit (the folder may not exist yet)."""
    configured = os.environ.get("TEXTFIT_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "textfit"
