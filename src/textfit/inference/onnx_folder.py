"""RUN/onnx as optimum loads it: the chosen model as model.onnx, beside the config and tokenizer.

`optimum.onnxruntime.ORTModelForSequenceClassification.from_pretrained(RUN/onnx)` reads model.onnx,
config.json (with the labels) and the tokenizer files. `export_onnx` checks each model under the name
MODELS gives it; then `arrange_models` names the chosen one (int8 if it passed, else fp32) model.onnx,
and `copy_model_files` copies the config and tokenizer from RUN/model. check.json records each model's
file; an export made before this layout (no file recorded) is read by MODELS.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from textfit.files import write_atomic
from textfit.modeling import VOCABULARY_FILES

MODELS = {"int8": "model.int8.onnx", "fp32": "model.onnx"}  # in the order OnnxClassifier prefers
CHOSEN = "model.onnx"  # the name optimum loads
FP32_ASIDE = "model.fp32.onnx"  # the fp32 model where the int8 one is model.onnx
# RUN/model's files that go beside the model: the config (labels) and the tokenizer's.
MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    *VOCABULARY_FILES,
)
# What an export writes in RUN/onnx (a large model's weights go to *.onnx.data beside its graph).
EXPORT_FILES = (*MODELS.values(), FP32_ASIDE, "*.onnx.data", "check.json", ".check.json.*", *MODEL_FILES)
EXPORT_FILES += tuple(f".{name}.*" for name in MODEL_FILES)  # the atomic writer's temporary files


def chosen_model(passed: Iterable[str]) -> str | None:
    """The model a Classifier takes among those that passed (int8 before fp32); None if none did."""
    passed = set(passed)
    return next((name for name in MODELS if name in passed), None)


def arrange_models(folder: Path, passed: Iterable[str]) -> dict[str, str]:
    """Name the chosen model model.onnx (the fp32 one then becomes model.fp32.onnx); each model's file."""
    files = {name: file for name, file in MODELS.items() if (folder / file).is_file()}
    chosen = chosen_model(passed)
    if chosen is not None and files.get(chosen) != CHOSEN:
        if "fp32" in files:
            (folder / files["fp32"]).rename(folder / FP32_ASIDE)
            files["fp32"] = FP32_ASIDE
        (folder / files[chosen]).rename(folder / CHOSEN)
        files[chosen] = CHOSEN
    return files


def copy_model_files(model_dir: Path, folder: Path) -> list[str]:
    """Copy the config and tokenizer files of model_dir into folder; the names copied."""
    copied = [name for name in MODEL_FILES if (model_dir / name).is_file()]
    for name in copied:
        write_atomic(folder / name, _copy_from(model_dir / name))
    return copied


def _copy_from(source: Path) -> Callable[[Path], object]:
    """A writer for write_atomic that copies source's bytes."""
    return lambda tmp: shutil.copyfile(source, tmp)
