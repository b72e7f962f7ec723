"""Turn examples into a tokenized datasets.Dataset (unpadded: the collator pads each batch).

Texts go to the tokenizer in chunks, and their token ids straight into Arrow: no Python list ever
holds the ids of every row. With the cache on, the ids of all the validated rows of a file are
written to cache_root()/tokenized/<key>/tokens.arrow, where the key hashes the texts, the tokenizer
and max_length; a later run on the same texts with the same tokenizer maps that file instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from textfit.cache import cache_root
from textfit.data.examples import Examples
from textfit.tokenizer_backend import Encoded, encoder, record_batch

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # raise when what is written, or how it is keyed, changes
CHUNK_ROWS = 8192  # texts per tokenizer call: enough for its threads, few MB of token ids
TOKENS_FILE = "tokens.arrow"
INFO_FILE = "info.json"
_STALE_SECONDS = 24 * 3600  # a partial cache folder this old belongs to a run that died

ProgressCallback = Callable[[int, int], None]  # (texts tokenized, texts in all)


def tokenize_examples(
    examples: Examples,
    tokenizer: Any,
    max_length: int,
    label_ids: list[int] | NDArray[np.float32] | None = None,
    *,
    cache: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
) -> Any:
    """Tokenize texts (and text pairs, as real pairs with token type ids), truncating at max_length.

    Args:
        examples: the examples to tokenize.
        tokenizer: a Hugging Face tokenizer (a fast one is used through its Rust backend).
        max_length: tokens kept per example.
        label_ids: the label id of each example, for a `labels` column; or floats: a number per
            example (regression), or a row of 1 / 0 per example (multi-label).
        cache: reuse (or write) the token ids of the examples' file in cache_root()/tokenized.
            Off, or with a tokenizer that has no fast backend, only these examples are tokenized.
        chunk_rows: texts per tokenizer call.
        progress: called with (texts tokenized, texts in all) after each chunk; the texts are
            those of the whole file when the cache is filled, and all at once on a cache hit.

    Returns:
        A datasets.Dataset with `input_ids`, `token_type_ids` where the tokenizer gives them,
        `length` (tokens, for length grouping) and, when label_ids is given, `labels`; row i is
        example i.
    """
    key = _cache_key(examples, tokenizer, max_length) if cache else None
    if key is not None:
        try:
            tokens = _cached_tokens(key, examples, tokenizer, max_length, chunk_rows, progress)
        except OSError as err:  # a read-only or full disk: tokenize without the cache
            logger.warning(
                "cannot use the tokenization cache in %s (%s); tokenizing without it", _cache_dir(), err
            )
        else:
            if examples.selection is not None:  # a split: its rows, in memory (indices are slow in datasets)
                tokens = tokens.take(pa.array(examples.selection))
            return _dataset(_with_labels(tokens, label_ids), key, examples.selection)
    batches = _token_batches(examples, tokenizer, max_length, chunk_rows, False, progress)
    return _dataset(_with_labels(pa.Table.from_batches(list(batches)), label_ids), None, None)


def _dataset(table: pa.Table, key: str | None, selection: NDArray[np.int64] | None) -> Any:
    """A datasets.Dataset of the table, with a fingerprint of its content.

    Without one, datasets hashes the whole table, through a pickled copy of it.
    """
    from datasets import Dataset

    digest = hashlib.sha256((key or uuid.uuid4().hex).encode())
    if selection is not None:
        digest.update(np.ascontiguousarray(selection, dtype="<i8").tobytes())
    if "labels" in table.column_names:
        for chunk in table.column("labels").chunks:
            if pa.types.is_integer(chunk.type):
                digest.update(np.asarray(chunk, dtype="<i8").tobytes())
            else:  # floats, or lists of floats (multi-label)
                values = chunk.flatten() if pa.types.is_fixed_size_list(chunk.type) else chunk
                digest.update(np.asarray(values, dtype="<f4").tobytes())
    return Dataset(table, fingerprint=digest.hexdigest()[:32])


def token_lengths(dataset: Any) -> NDArray[np.int64]:
    """The `length` column of a tokenized dataset, read in one go.

    `list(dataset["length"])` reads a datasets.Dataset row by row, slow for large tables.
    """
    lengths = dataset.with_format("arrow", columns=["length"])[:]["length"]
    return np.asarray(lengths.to_numpy(), dtype=np.int64)


def truncated_share(dataset: Any, max_length: int) -> float:
    """Share of examples that hit max_length (and so were probably truncated)."""
    lengths = token_lengths(dataset)
    return float(np.count_nonzero(lengths >= max_length)) / max(len(lengths), 1)


def count_tokens(
    examples: Examples, tokenizer: Any, max_length: int, chunk_rows: int = CHUNK_ROWS
) -> NDArray[np.int64]:
    """The number of tokens of each example (at most max_length), without keeping the ids."""
    lengths = [
        batch.column("length").to_numpy()
        for batch in _token_batches(examples, tokenizer, max_length, chunk_rows, every_row=False)
    ]
    return np.concatenate(lengths).astype(np.int64) if lengths else np.zeros(0, np.int64)


def tokenize_windows(
    examples: Examples,
    tokenizer: Any,
    max_length: int,
    stride: int,
    label_ids: list[int] | NDArray[np.float32] | None = None,
) -> tuple[Any, NDArray[np.int64]]:
    """Tokenize texts longer than max_length as overlapping windows of max_length tokens.

    Each window shares `stride` tokens with the one before and carries its text's label; with
    sentence pairs the first text is windowed and the second repeated in each window.

    Returns:
        A datasets.Dataset as tokenize_examples gives (one row per window), and the example of each
        window, shape (windows,).
    """
    from datasets import Dataset

    pairs = examples.text_pairs
    encoded = tokenizer(
        examples.texts,
        pairs,
        truncation="only_first" if pairs is not None else True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
    )
    rows = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    columns: dict[str, Any] = {
        name: encoded[name] for name in ("input_ids", "token_type_ids") if name in encoded
    }
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    table = pa.table(columns)
    if label_ids is not None:
        labels = np.asarray(label_ids)[rows]
        table = _with_labels(table, labels.tolist() if labels.dtype.kind == "i" else labels)
    return Dataset(table), rows


def _with_labels(tokens: pa.Table, label_ids: list[int] | NDArray[np.float32] | None) -> pa.Table:
    if label_ids is None:
        return tokens
    if len(label_ids) != tokens.num_rows:
        raise ValueError(f"{len(label_ids)} label ids for {tokens.num_rows} examples")
    if isinstance(label_ids, list):
        return tokens.append_column("labels", pa.array(label_ids, pa.int64()))
    values = np.asarray(label_ids, dtype=np.float32)
    if values.ndim == 1:  # regression
        return tokens.append_column("labels", pa.array(values))
    rows = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])  # multi-label
    return tokens.append_column("labels", rows)


def _token_batches(
    examples: Examples,
    tokenizer: Any,
    max_length: int,
    chunk_rows: int,
    every_row: bool,
    progress: ProgressCallback | None = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of token ids: of every validated row of the file, or of the examples only.

    The tokenizer works on the next chunk in a second thread (the Rust backend releases the GIL)
    while this one turns the last chunk into Arrow.
    """
    selection = None if every_row else examples.selection
    roles = [role for role in ("text", "text_pair") if role in examples.data.column_names]
    total = examples.data.num_rows if selection is None else len(selection)

    def chunk(start: int) -> tuple[list[str], list[str] | None]:
        stop = min(start + chunk_rows, total)
        values = []
        for role in roles:
            column = examples.data.column(role)
            part = (
                column.slice(start, stop - start) if selection is None else column.take(selection[start:stop])
            )
            values.append(part.to_pylist())
        return values[0], values[1] if len(values) > 1 else None

    if total == 0:
        return
    if progress is not None:
        progress(0, total)
    first = chunk(0)
    encode = encoder(tokenizer, max_length, (first[0][:32], None if first[1] is None else first[1][:32]))

    def encode_chunk(start: int) -> Encoded:
        return encode(*(first if start == 0 else chunk(start)))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="textfit-tokenize") as pool:
        pending: Future[Encoded] = pool.submit(encode_chunk, 0)
        for start in range(chunk_rows, total, chunk_rows):
            following = pool.submit(encode_chunk, start)
            yield record_batch(pending.result())
            if progress is not None:
                progress(start, total)
            pending = following
        yield record_batch(pending.result())
        if progress is not None:
            progress(total, total)


# ---------------------------------------------------------------- the cache


def _cache_dir() -> Path:
    return cache_root() / "tokenized"


def _tokenizer_fingerprint(tokenizer: Any) -> dict[str, Any] | None:
    """What decides the ids a tokenizer gives; None when it has no serialised (fast) backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    import tokenizers
    import transformers

    state = json.loads(backend.to_str())
    for transient in ("truncation", "padding"):  # set on each call by transformers
        state.pop(transient, None)
    return {
        "class": f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}",
        "backend": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest(),
        "model_input_names": list(tokenizer.model_input_names),
        "truncation_side": tokenizer.truncation_side,
        "split_special_tokens": bool(getattr(tokenizer, "split_special_tokens", False)),
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
    }


def _hash_strings(digest: Any, column: pa.ChunkedArray) -> None:
    """Feed the strings of a column to a hash: every length, then every byte (chunking-proof)."""
    chunks = [chunk for chunk in column.chunks if len(chunk)]
    bounds = []
    for chunk in chunks:
        offsets = np.frombuffer(chunk.buffers()[1], np.int32, len(chunk) + 1, chunk.offset * 4)
        digest.update(np.diff(offsets).astype("<i8").tobytes())
        bounds.append((int(offsets[0]), int(offsets[-1])))
    for chunk, (first, last) in zip(chunks, bounds, strict=True):
        digest.update(memoryview(chunk.buffers()[2])[first:last])


def _cache_key(examples: Examples, tokenizer: Any, max_length: int) -> str | None:
    """A hash of every text (and second text) of the examples' file, the tokenizer and max_length."""
    fingerprint = _tokenizer_fingerprint(tokenizer)
    if fingerprint is None:
        logger.info(
            "%s has no fast backend to fingerprint: tokenizing without the cache", type(tokenizer).__name__
        )
        return None
    roles = [role for role in ("text", "text_pair") if role in examples.data.column_names]
    settings = {"format": CACHE_FORMAT, "tokenizer": fingerprint, "max_length": max_length, "roles": roles}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for role in roles:
        digest.update(role.encode() + b"\0")
        _hash_strings(digest, examples.data.column(role))
    return digest.hexdigest()


def _complete(folder: Path, rows: int) -> bool:
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("rows") == rows and (folder / TOKENS_FILE).is_file()


def _remove_stale_partials(cache_dir: Path) -> None:
    for partial in cache_dir.glob(".partial-*"):
        try:
            if time.time() - partial.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            pass


def _write_tokens(
    folder: Path,
    examples: Examples,
    tokenizer: Any,
    max_length: int,
    chunk_rows: int,
    progress: ProgressCallback | None = None,
) -> None:
    """Tokenize every validated row into a partial folder, then rename it to `folder` in one step.

    A run killed half way leaves only a `.partial-*` folder, which no lookup reads.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(folder.parent)
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{folder.name[:16]}-", dir=folder.parent))
    try:
        writer = None
        with pa.OSFile(str(partial / TOKENS_FILE), "wb") as sink:
            for batch in _token_batches(examples, tokenizer, max_length, chunk_rows, True, progress):
                writer = writer or pa.ipc.new_stream(sink, batch.schema)
                writer.write_batch(batch)
            if writer is not None:
                writer.close()
        with open(partial / TOKENS_FILE, "rb") as written:
            os.fsync(written.fileno())  # on disk before the rename makes it visible
        info = {
            "format": CACHE_FORMAT,
            "rows": examples.data.num_rows,
            "source": str(examples.source),
            "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
            "max_length": max_length,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (partial / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if folder.exists() and not _complete(folder, examples.data.num_rows):
            shutil.rmtree(folder)  # damaged by hand, or by a disk that lost the last writes
        try:
            partial.rename(folder)
        except OSError:
            if not _complete(folder, examples.data.num_rows):  # else another run wrote it first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _cached_tokens(
    key: str,
    examples: Examples,
    tokenizer: Any,
    max_length: int,
    chunk_rows: int,
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """The token ids of every validated row of the examples' file, memory-mapped from the cache."""
    folder = _cache_dir() / key
    rows = examples.data.num_rows
    if _complete(folder, rows):
        try:
            tokens = pa.ipc.open_stream(pa.memory_map(str(folder / TOKENS_FILE))).read_all()
        except pa.ArrowInvalid as err:
            logger.warning("damaged tokenization cache %s (%s): tokenizing again", folder, err)
        else:
            if tokens.num_rows == rows:
                logger.info("%s: %d rows read from the tokenization cache %s", examples.source, rows, folder)
                if progress is not None:
                    progress(rows, rows)
                return tokens
        shutil.rmtree(folder, ignore_errors=True)
    logger.info("%s: tokenizing %d rows into the cache %s", examples.source, rows, folder)
    _write_tokens(folder, examples, tokenizer, max_length, chunk_rows, progress)
    return pa.ipc.open_stream(pa.memory_map(str(folder / TOKENS_FILE))).read_all()
