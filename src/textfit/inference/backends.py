"""The forward passes a Classifier predicts with: the model's own, packed BERT, or ONNX Runtime.

A backend turns one padded batch (int64 arrays, (texts, tokens)) into logits (texts, labels) and
says how large its batches may be and how to pad them. `Classifier.load` takes the fastest one its
`fast_paths` allow (`fast_backend`): packed BERT on a CPU (`textfit.accel.packed`), else the
model's own forward with its last layer at the first token alone (`textfit.accel.firsttoken`);
on a CPU, linear weights reordered once (`textfit.accel.prepack`). It checks that choice once on a
probe batch against the model's own forward (`logits_difference`, within TOLERANCE) and keeps the
model's own forward where they differ. The gains: benchmarks/RESULTS.md, section 4.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from textfit.errors import ConfigError
from textfit.inference.batches import PADDED_KEYS, pad_batch
from textfit.modeling import batch_tokens, pad_multiple

# Each can be left out of Classifier.load's fast_paths; none leaves the model's own forward pass.
FAST_PATHS = ("packed", "firsttoken", "prepack")
# Packed BERT predicts in batches of twice batch_size texts and twice modeling.batch_tokens: its
# linear layers see no padding, so larger batches only make larger products, a little faster at
# the same peak memory (benchmarks/RESULTS.md, section 4).
PACKED_BATCH_SCALE = 2
# Largest difference of a fast path's logits from the model's own on the probe batch, as a share
# of the largest logit (at least 1): rounding stays far below it, a broken path far above.
TOLERANCE = {"fp32": 1e-3, "fp16": 0.05, "bf16": 0.1}
# Texts of different lengths, so that the probe batch has padding.
PROBE_TEXTS = (
    "The service was quick and the staff were friendly.",
    "Not good.",
    "I waited two weeks for a reply, and the answer did not solve the problem I wrote about.",
)


class Backend(Protocol):
    """A forward pass: logits of a padded batch, and the batches it wants."""

    name: str
    pad_to_multiple: int | None  # pad_batch's multiple for this backend's batches

    def batch_limits(self, batch_size: int) -> tuple[int, int]:
        """The most texts and padded tokens in one batch, for a Classifier's batch_size."""
        ...

    def logits(self, batch: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        """The logits (texts, labels) of one padded batch (pad_batch's arrays)."""
        ...


def half_dtype(precision: str) -> Any:
    """The torch dtype of the bf16 / fp16 precision; None for fp32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


class EagerBackend:
    """The model's own forward pass, on its device, under autocast in a half precision."""

    name = "eager"

    def __init__(self, model: Any, dtype: Any = None) -> None:
        """Wrap a model in eval mode; dtype: torch.bfloat16 or torch.float16 for autocast, else None."""
        self.model, self.dtype = model, dtype
        self.device_type = str(model.device.type)
        self.pad_to_multiple = pad_multiple(self.device_type)

    def batch_limits(self, batch_size: int) -> tuple[int, int]:
        """batch_size texts, and modeling.batch_tokens of the device."""
        return batch_size, batch_tokens(self.device_type)

    def logits(self, batch: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        """The model's logits of one padded batch."""
        import torch

        device = self.model.device
        tensors = {key: torch.from_numpy(values).to(device) for key, values in batch.items()}
        dtype = self.dtype
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = self.model(**tensors).logits
        return logits.float().cpu().numpy()  # type: ignore[no-any-return]


class PackedCpuBackend:
    """A BERT classifier on a CPU run on its real tokens alone (`textfit.accel.packed.PackedBert`).

    Batches with inputs other than PADDED_KEYS go through the model's own forward.
    """

    name = "packed"

    def __init__(self, model: Any, dtype: Any = None) -> None:
        """Stack the model's query, key and value weights (see PackedBert); the model in its dtype."""
        from textfit.accel.packed import PackedBert

        self.eager = EagerBackend(model, dtype)
        self.pad_to_multiple = self.eager.pad_to_multiple
        self.packed = PackedBert(model)

    def batch_limits(self, batch_size: int) -> tuple[int, int]:
        """PACKED_BATCH_SCALE times the eager backend's: no padding in its products."""
        texts, tokens = self.eager.batch_limits(batch_size)
        return texts * PACKED_BATCH_SCALE, tokens * PACKED_BATCH_SCALE

    def logits(self, batch: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        """PackedBert's logits of one right-padded batch."""
        import torch

        if not set(batch) <= PADDED_KEYS:
            return self.eager.logits(batch)
        dtype = self.eager.dtype
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = self.packed(**{key: torch.from_numpy(values) for key, values in batch.items()})
        return logits.float().numpy()


class OnnxBackend:
    """An exported model run by ONNX Runtime on a CPU (`textfit.inference.onnx`)."""

    name = "onnx"
    pad_to_multiple: int | None = None

    def __init__(self, session: Any) -> None:
        """Wrap an onnxruntime.InferenceSession with a `logits` output."""
        self.session = session
        self.input_names = [node.name for node in session.get_inputs()]

    def batch_limits(self, batch_size: int) -> tuple[int, int]:
        """batch_size texts, and modeling.batch_tokens of a CPU."""
        return batch_size, batch_tokens("cpu")

    def logits(self, batch: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        """The session's logits; graph inputs the batch lacks (token types) are zeros."""
        shape = batch["input_ids"].shape
        feed = {
            name: batch[name] if name in batch else np.zeros(shape, dtype=np.int64)
            for name in self.input_names
        }
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)


def checked_fast_paths(fast_paths: Collection[str]) -> tuple[str, ...]:
    """The fast paths asked for, in FAST_PATHS order.

    Raises:
        ConfigError: naming a path that is not one of FAST_PATHS.
    """
    if isinstance(fast_paths, str):
        fast_paths = [fast_paths]
    unknown = sorted(set(fast_paths) - set(FAST_PATHS))
    if unknown:
        raise ConfigError(
            f"unknown fast path {', '.join(map(repr, unknown))}; the fast paths are {', '.join(FAST_PATHS)}",
            hint="leave some out, or pass none to predict with the model's own forward pass",
        )
    return tuple(path for path in FAST_PATHS if path in fast_paths)


def fast_backend(
    model: Any, dtype: Any, padding_side: str, fast_paths: Collection[str]
) -> tuple[Backend, tuple[str, ...]]:
    """The fastest backend fast_paths allow for a loaded model, and the paths it took.

    Changes the model in place (its last layer, its linear layers): only for a model loaded to
    predict. Packed BERT where `textfit.accel.packed.packable`, else the first token alone in the
    last layer where `textfit.accel.firsttoken` applies; then, on a CPU, prepacked linear layers
    (after PackedBert, which stacks query, key and value).
    """
    from textfit.accel import firsttoken
    from textfit.accel.packed import packable
    from textfit.accel.prepack import prepack_linears

    backend: Backend = EagerBackend(model, dtype)
    taken = []
    on_cpu = model.device.type == "cpu"
    if "packed" in fast_paths and on_cpu and packable(model, padding_side):
        backend = PackedCpuBackend(model, dtype)
        taken.append("packed")
    elif "firsttoken" in fast_paths and firsttoken.enable(model):  # BERT and RoBERTa-like: [CLS] alone
        taken.append("firsttoken")
    if "prepack" in fast_paths and on_cpu and prepack_linears(model):
        taken.append("prepack")
    return backend, tuple(taken)


def probe_batch(
    model: Any, tokenizer: Any, pairs: bool, multiple: int | None
) -> dict[str, NDArray[np.int64]]:
    """PROBE_TEXTS tokenized and padded (with themselves, reversed, as second texts for a pair model).

    Cut to at most 32 tokens, and to what the model's position embeddings hold.
    """
    texts = list(PROBE_TEXTS)
    positions = getattr(model.config, "max_position_embeddings", None) or 34
    length = max(4, min(32, tokenizer.model_max_length, positions - 2))  # RoBERTa's positions start at 2
    encoded = tokenizer(texts, texts[::-1] if pairs else None, truncation=True, max_length=length)
    features = [
        dict(zip(encoded.keys(), values, strict=True)) for values in zip(*encoded.values(), strict=True)
    ]
    return pad_batch(features, tokenizer, multiple)


def logits_difference(got: NDArray[np.float32], want: NDArray[np.float32]) -> float:
    """The largest difference of got from want, as a share of want's largest logit (at least 1).

    Infinite where got has another shape, or values that are not finite.
    """
    if got.shape != want.shape or not np.isfinite(got).all():
        return float("inf")
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    return float(np.abs(got - want).max(initial=0.0)) / scale
