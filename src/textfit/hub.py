"""Whether the Hugging Face Hub answers; if not, models and data sets load from the local cache at once.

Both `textfit.modeling` (models, tokenizers) and `textfit.data.hub` (data sets) ask before loading.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

HUB_PROBE_SECONDS = 3.0  # how long to wait for the Hub's TCP port before working from the local cache


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_reachable() -> bool:
    """Whether the Hub's (or the proxy's) port answers within HUB_PROBE_SECONDS; False offline.

    huggingface_hub retries a failed request 5 times over ~25 s (for each file it asks for, and no
    setting caps that): without a network textfit works from the local cache at once instead.
    """
    from huggingface_hub import constants

    if constants.is_offline_mode() or _truthy(os.environ.get("HF_HUB_OFFLINE")):
        return False
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY")
    url = urlsplit(proxy or constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as err:
        logger.debug("the Hugging Face Hub (%s) cannot be reached: %s", url.netloc, err)
        return False
    return True


def cache_only(source: str) -> bool:
    """Whether to load `source` from the local Hub cache alone: a hub id while the Hub cannot be reached."""
    if Path(source).is_dir() or hub_reachable():
        return False
    logger.info("the Hugging Face Hub cannot be reached: looking for model %r in the local cache", source)
    return True
