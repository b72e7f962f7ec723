"""Prediction batches: texts grouped by length, padded into arrays, and long texts' windows merged back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[NDArray[np.intp]]:
    """Row indices in batches of similar length: at most batch_size rows and max_tokens padded tokens.

    A text longer than max_tokens gets a batch of its own.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches: list[NDArray[np.intp]] = []
    start = 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < batch_size
            and (end - start + 1) * lengths[order[end]] <= max_tokens
        ):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


# The keys pad_batch pads itself, and those packed BERT takes.
PADDED_KEYS = {"input_ids", "attention_mask", "token_type_ids"}


def pad_batch(
    features: Sequence[dict[str, Any]], tokenizer: Any, multiple: int | None = None
) -> dict[str, NDArray[np.int64]]:
    """One batch of tokenized texts padded into int64 arrays (texts, longest), as `tokenizer.pad` pads it.

    The same arrays as `tokenizer.pad(features, pad_to_multiple_of=multiple, return_tensors="np")`
    (its padding side, pad token and pad token type), built in NumPy, which is several times
    faster (benchmarks/RESULTS.md, section 4). Features with other keys, or a tokenizer without a
    pad token, go through `tokenizer.pad` itself.
    """
    keys = set(features[0])
    if not ({"input_ids", "attention_mask"} <= keys <= PADDED_KEYS) or tokenizer.pad_token_id is None:
        padded = tokenizer.pad(list(features), pad_to_multiple_of=multiple, return_tensors="np")
        return {key: np.asarray(value, dtype=np.int64) for key, value in padded.items()}
    length = max(len(feature["input_ids"]) for feature in features)
    if multiple:
        length = -(-length // multiple) * multiple
    fills = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0}
    fills["token_type_ids"] = tokenizer.pad_token_type_id
    left = tokenizer.padding_side == "left"
    batch = {}
    for key in features[0]:
        array = np.full((len(features), length), fills[key], dtype=np.int64)
        for row, feature in zip(array, features, strict=True):
            values = feature[key]
            if left:
                row[length - len(values) :] = values
            else:
                row[: len(values)] = values
        batch[key] = array
    return batch


def aggregate_windows(
    logits: NDArray[np.float32], rows: NDArray[np.int64], count: int, how: str
) -> NDArray[np.float32]:
    """The logits of each text from those of its windows: their mean or maximum, shape (count, labels).

    Args:
        logits: per window, shape (windows, labels).
        rows: the text of each window, shape (windows,); every text has at least one.
        count: the number of texts.
        how: mean or max.
    """
    if how == "max":
        result = np.full((count, logits.shape[1]), -np.inf, dtype=np.float32)
        np.maximum.at(result, rows, logits)
        return result
    sums = np.zeros((count, logits.shape[1]), dtype=np.float32)
    np.add.at(sums, rows, logits)
    counts = np.bincount(rows, minlength=count).astype(np.float32)
    return (sums / counts[:, None]).astype(np.float32)
