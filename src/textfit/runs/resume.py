"""An interrupted run: its RUN.partial folder, the config saved there, and its last complete checkpoint.

`textfit train --resume RUN` continues from these with the saved settings; see train.train.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from textfit.config.loading import load_config, with_settings
from textfit.config.schema import RunConfig
from textfit.errors import ConfigError
from textfit.runs.folder import not_written_by_textfit, remove_written_folder
from textfit.runs.layout import CHECKPOINTS, CONFIG_FILE, PARTIAL_SUFFIX, partial_dir_of

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def find_partial(resume: Path) -> Path:
    """The partial folder of the run to resume: `resume` itself when it is one, else RUN.partial.

    Raises:
        ConfigError: there is no interrupted run there.
    """
    resume = Path(resume)
    partial = resume if resume.name.endswith(PARTIAL_SUFFIX) else partial_dir_of(resume)
    if not (partial / CONFIG_FILE).is_file():
        finished = (resume / "model" / "config.json").is_file()
        raise ConfigError(
            f"no interrupted run to resume at {resume}: {partial} "
            + ("has no run_config.yaml" if partial.is_dir() else "does not exist")
            + (" (the run in that folder finished)" if finished else ""),
            hint="--resume takes the --output-dir of a run that was stopped before it finished; "
            "to train again, leave out --resume",
        )
    return partial


def saved_config(partial: Path, run_dir: Path, requested: RunConfig | None) -> RunConfig:
    """The config saved in the partial folder, writing to run_dir; `requested` must agree with it.

    Raises:
        ConfigError: the saved config cannot be read, or a requested setting differs from it.
    """
    saved = load_config(partial / CONFIG_FILE).model_copy(update={"output_dir": run_dir})
    if requested is None:
        return saved
    differences = _differences(saved.model_dump(mode="json"), requested.model_dump(mode="json"))
    differences.pop("output_dir", None)  # where the run is written follows --resume
    if differences:
        shown = ", ".join(
            f"{key} {given!r} (saved: {kept!r})" for key, (kept, given) in sorted(differences.items())
        )
        raise ConfigError(
            f"cannot resume {run_dir} with other settings: {shown}",
            hint="--resume continues the run with the settings in "
            f"{partial / CONFIG_FILE}; leave out the other flags, or start a new run without --resume",
        )
    return saved


def resume_point(resume: Path, cfg: RunConfig | None, settings: dict[str, Any]) -> tuple[RunConfig, Path]:
    """The saved config of the run to resume (cfg and settings must agree with it), and its last checkpoint.

    Raises:
        ConfigError: no interrupted run or no checkpoint there, or settings that differ from the saved ones.
    """
    partial_dir = find_partial(resume)
    run_dir = partial_dir.with_name(partial_dir.name.removesuffix(PARTIAL_SUFFIX))
    saved = saved_config(partial_dir, run_dir, None)
    if cfg is not None or settings:
        requested = with_settings(cfg or saved, settings) if settings else (cfg or saved)
        saved = saved_config(partial_dir, run_dir, requested.with_absolute_paths())
    checkpoint = last_checkpoint(partial_dir)
    if checkpoint is None:
        raise ConfigError(
            f"cannot resume {run_dir}: {partial_dir / CHECKPOINTS} holds no complete checkpoint",
            hint="the run stopped before its first checkpoint (see train.save_strategy and "
            "train.save_steps): train again without --resume",
        )
    return saved, checkpoint


def _differences(saved: dict[str, Any], given: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key in saved.keys() | given.keys():
        kept, new = saved.get(key), given.get(key)
        if isinstance(kept, dict) and isinstance(new, dict):
            found.update(_differences(kept, new, f"{prefix}{key}."))
        elif kept != new:
            found[f"{prefix}{key}"] = (kept, new)
    return found


def _complete(checkpoint: Path) -> bool:
    """A checkpoint the Trainer finished writing: trainer_state.json (written last) reads as JSON."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(checkpoint.glob("*.safetensors")) and (checkpoint / "optimizer.pt").is_file()


def last_checkpoint(partial: Path) -> Path | None:
    """The complete checkpoint with the highest step in partial/checkpoints, or None."""
    folder = partial / CHECKPOINTS
    steps = sorted(
        (
            (int(match[1]), path)
            for path in folder.glob("checkpoint-*")
            if (match := _CHECKPOINT.match(path.name))
        ),
        reverse=True,
    )
    for step, path in steps:
        if _complete(path):
            return path
        logger.warning("checkpoint %s (step %d) is incomplete: skipped", path, step)
    return None


def discard_partial(partial: Path) -> None:
    """Remove the partial folder of an earlier run that was interrupted, saying so.

    Raises:
        ConfigError: the folder holds files textfit did not write (it is left alone).
    """
    if partial.exists():
        remove_written_folder(partial, hint=f"move {partial} away, or pass another --output-dir")
        logger.warning(
            "discarded %s, left by an interrupted run (resume one with `textfit train --resume RUN`)",
            partial,
        )


def discard_failed(partial: Path) -> None:
    """After a failed run: remove its partial folder unless it holds a checkpoint to resume from.

    A run that failed while being moved into place (its metrics.json written) is kept too.
    """
    if not partial.is_dir():
        return
    run_dir = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
    if (partial / "metrics.json").is_file():
        logger.warning("the run finished but could not be moved into place: it is in %s", partial)
    elif last_checkpoint(partial) is not None:
        logger.warning("the run stopped; %s is kept: `textfit train --resume %s` goes on", partial, run_dir)
    elif not_written_by_textfit(partial) is None:
        shutil.rmtree(partial, ignore_errors=True)
        logger.info("removed %s: the run stopped before its first checkpoint", partial)
