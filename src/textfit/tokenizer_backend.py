"""Tokenize a chunk of texts through a fast tokenizer's Rust backend, without transformers' per-row work.

`encoder` checks the backend against the tokenizer's own call on a sample first, and falls back to
that call; `record_batch` turns a chunk's tokens into Arrow.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

logger = logging.getLogger(__name__)


class Encoded(NamedTuple):
    """The tokens of a chunk of texts."""

    ids: list[list[int]]  # input ids per text
    type_ids: list[list[int]] | None  # token type ids per text; None where the tokenizer gives none
    zero_type_ids: bool = False  # token type ids, all 0, not listed (a single text, for most tokenizers)


Encoder = Callable[[list[str], list[str] | None], Encoded]


def encoder(tokenizer: Any, max_length: int, sample: tuple[list[str], list[str] | None]) -> Encoder:
    """A function that tokenizes a chunk as `tokenizer(texts, pairs, truncation=..., max_length=...)`.

    For a fast tokenizer that keeps transformers' own call, that is its Rust backend (a copy, set up
    as transformers sets it up) called without the Python work transformers adds per row; checked
    against the tokenizer on a sample of the texts first.
    """

    def call(texts: list[str], pairs: list[str] | None) -> Encoded:
        encoded = tokenizer(
            texts,
            pairs,
            truncation="longest_first",
            max_length=max_length,
            return_attention_mask=False,  # the collator builds it from the padding
        )
        return Encoded(encoded["input_ids"], encoded.get("token_type_ids"))

    backend = backend_encoder(tokenizer, max_length)
    if backend is None or not record_batch(backend(*sample)).equals(record_batch(call(*sample))):
        logger.debug("tokenizing through %s.__call__", type(tokenizer).__name__)
        return call
    return backend


def backend_encoder(tokenizer: Any, max_length: int) -> Encoder | None:
    """A copy of a fast tokenizer's backend, set up as transformers sets it up; None for other tokenizers."""
    try:
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        return None
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        return None
    kept = ("__call__", "_encode_plus", "set_truncation_and_padding", "_convert_encoding")
    if any(getattr(type(tokenizer), name) is not getattr(PreTrainedTokenizerFast, name) for name in kept):
        return None  # a tokenizer class with its own call: use that call
    state = tokenizer.backend_tokenizer.to_str()
    backend = Tokenizer.from_str(state)  # a copy, with our own truncation and padding
    backend.no_padding()
    backend.enable_truncation(
        max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side
    )
    backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
    encode_batch = getattr(backend, "encode_batch_fast", backend.encode_batch)  # fast: no char offsets
    with_types = "token_type_ids" in tokenizer.model_input_names
    zero_single_types = _single_type_ids_are_zero(json.loads(state).get("post_processor"))

    def encode(texts: list[str], pairs: list[str] | None) -> Encoded:
        encodings = encode_batch(texts if pairs is None else list(zip(texts, pairs, strict=True)))
        ids = [encoding.ids for encoding in encodings]
        if not with_types or (pairs is None and zero_single_types):
            return Encoded(ids, None, zero_type_ids=with_types)
        return Encoded(ids, [encoding.type_ids for encoding in encodings])

    return encode


def _single_type_ids_are_zero(post_processor: dict[str, Any] | None) -> bool:
    """Whether a tokenizer.json post-processor gives every token of a single text type id 0."""
    if post_processor is None or post_processor.get("type") in ("BertProcessing", "RobertaProcessing"):
        return True
    if post_processor.get("type") == "TemplateProcessing":
        return all(piece.get("type_id") == 0 for part in post_processor["single"] for piece in part.values())
    return False  # listed from the encodings


def _list_array(rows: list[list[int]], offsets: pa.Array, dtype: Any, arrow_type: pa.DataType) -> pa.Array:
    values = np.fromiter(itertools.chain.from_iterable(rows), dtype, offsets[-1].as_py())
    return pa.ListArray.from_arrays(offsets, pa.array(values).cast(arrow_type))  # cast: checked range


def record_batch(encoded: Encoded) -> pa.RecordBatch:
    """The tokens of a chunk as Arrow: `input_ids`, `token_type_ids` where given, and `length`."""
    lengths = np.fromiter(map(len, encoded.ids), np.int32, len(encoded.ids))
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    columns = {"input_ids": _list_array(encoded.ids, offsets, np.int32, pa.int32())}
    if encoded.type_ids is not None:
        columns["token_type_ids"] = _list_array(encoded.type_ids, offsets, np.int64, pa.int8())
    elif encoded.zero_type_ids:
        zeros = pa.array(np.zeros(offsets[-1].as_py(), np.int8))
        columns["token_type_ids"] = pa.ListArray.from_arrays(offsets, zeros)
    columns["length"] = pa.array(lengths)
    return pa.RecordBatch.from_pydict(columns)
