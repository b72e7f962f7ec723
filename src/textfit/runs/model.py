"""A run's model folder: where it is (RUN_DIR/model), whether it is whole, and how to mend it.

`model_folder(run_dir)` is what prediction, evaluation, export and push load from; it refuses an
unfinished run, a folder without labels, weights or tokenizer, and damaged safetensors files.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from textfit.errors import ModelError
from textfit.modeling import PRESET_HUB_IDS, has_tokenizer_files
from textfit.runs.resume import last_checkpoint

_DAMAGED_HINT = "the run may have been interrupted while saving, or the folder damaged: train it again"


def model_folder(run_dir: Path, allow_pickle: bool = False) -> Path:
    """The model folder of a run (RUN_DIR/model), or run_dir itself when it is a model folder.

    Checks that the folder is whole: a config with the label names, complete safetensors weights
    (or, with allow_pickle, pickled ones) and tokenizer files.

    Args:
        run_dir: a run folder or a model folder.
        allow_pickle: accept a folder whose weights are pickled (pytorch_model.bin) only.

    Raises:
        ModelError: naming what is missing and how to get a whole run, or the pickled weights
            refused.
    """
    if run_dir.name.endswith(".partial"):
        raise ModelError(
            f"{run_dir} is an unfinished run: training was interrupted, or is still going",
            hint=_unfinished_hint(run_dir, run_dir.with_suffix("")),
        )
    for folder in (run_dir / "model", run_dir):
        if (folder / "config.json").is_file():
            _check_model_folder(folder, allow_pickle)
            return folder
    if not run_dir.exists():
        unfinished = run_dir.with_name(run_dir.name + ".partial")
        replaced = run_dir.with_name(run_dir.name + ".old")
        hint = "pass the --output-dir of a run"
        if unfinished.is_dir():
            hint = f"{unfinished} holds a run that did not finish: " + _unfinished_hint(unfinished, run_dir)
        elif replaced.is_dir():
            hint = f"{replaced} holds the run it was replacing when it stopped: rename it to {run_dir.name}"
        raise ModelError(f"run folder {run_dir} does not exist", hint=hint)
    raise ModelError(
        f"{run_dir} is not a textfit run: it has no model/config.json",
        hint="pass the folder `textfit train` wrote (runs/<name> by default)",
    )


def _unfinished_hint(partial: Path, run_dir: Path) -> str:
    """How to go on from an unfinished run: --resume where it has a complete checkpoint, else train again."""
    if last_checkpoint(partial) is not None:
        return f"resume it with `textfit train --resume {run_dir}`, or train again"
    return (
        "it stopped before its first complete checkpoint, so there is nothing to resume: "
        f"train again with --output-dir {run_dir}"
    )


def _check_model_folder(folder: Path, allow_pickle: bool) -> None:
    """Raise ModelError naming the first part of a model folder that is missing or damaged."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{folder / 'config.json'} cannot be read ({err})", hint=_DAMAGED_HINT) from None
    if not isinstance(config, dict) or not config.get("id2label"):
        raise ModelError(
            f"{folder / 'config.json'} has no id2label: the label names of the model are missing",
            hint=_DAMAGED_HINT,
        )
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickled = sorted(path.name for path in folder.glob("*.bin") if path.name != "training_args.bin")
        if pickled and not allow_pickle:
            raise ModelError(
                f"{folder} has only pickled weights ({', '.join(pickled)}); textfit loads "
                "pickled weights only with --allow-pickle (unpickling can run code)",
                hint="pass --allow-pickle if you trust where the folder came from, "
                "or convert the weights to model.safetensors",
            )
        if not pickled:
            raise ModelError(f"{folder} has no safetensors weights (model.safetensors)", hint=_DAMAGED_HINT)
    for path in weights:
        problem = _safetensors_problem(path)
        if problem:
            raise ModelError(f"{path} is damaged: {problem}", hint=_DAMAGED_HINT)
    if not has_tokenizer_files(folder):
        raise ModelError(
            f"{folder} has no tokenizer files (tokenizer.json, or a slow tokenizer's vocab.txt or "
            "sentencepiece model)",
            hint=tokenizer_hint(folder),
        )


def tokenizer_hint(folder: Path) -> str:
    """How to give a run's model folder its tokenizer back: that of the base model its run_config.yaml names.

    With the run's max_length, which the base model's tokenizer_config.json would otherwise replace.
    """
    import yaml

    base, settings = "BASE_MODEL", ""
    with contextlib.suppress(OSError, yaml.YAMLError, KeyError, TypeError):
        model = yaml.safe_load((folder.parent / "run_config.yaml").read_text(encoding="utf-8"))["model"]
        if isinstance(model["name"], str) and model["name"]:
            base = repr(PRESET_HUB_IDS.get(model["name"], model["name"]))
        if isinstance(model.get("max_length"), int):
            settings = f", model_max_length={model['max_length']}"
    return (
        "save the tokenizer of the model it was trained from into it: "
        f"AutoTokenizer.from_pretrained({base}{settings}).save_pretrained({str(folder)!r}); or train it again"
    )


def _safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file is not whole (its header names more bytes than it has), or None.

    The format: 8 bytes (little-endian header length), a JSON header giving each tensor's byte
    range, then the tensors. Read the header only.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            return f"{size} bytes, shorter than a header"
        header_length = int.from_bytes(start, "little")
        if header_length > size - 8:
            return f"its header needs {header_length} bytes, the file has {size}"
        try:
            header = json.loads(handle.read(header_length))
        except ValueError:
            return "its header is not valid JSON"
    try:
        ends = [int(entry["data_offsets"][1]) for name, entry in header.items() if name != "__metadata__"]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return "its header does not list tensors with their byte ranges"
    expected = 8 + header_length + max(ends, default=0)
    if size < expected:
        return f"truncated: {size} bytes of {expected}"
    return None
