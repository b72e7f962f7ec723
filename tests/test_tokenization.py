"""tokenize_examples: chunked tokenization into Arrow, and the tokenization cache (in tmp_path)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from conftest import TOPIC_WORDS, class_rows, pair_rows, write_csv
from textfit import tokenization, tokenizer_backend
from textfit.config.schema import DataConfig
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet
from textfit.data.rows import read_examples
from textfit.data.splits import load_splits
from textfit.tokenization import token_lengths, tokenize_examples, truncated_share

PAIRS = DataConfig(text_column="premise", text_pair_column="hypothesis")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own cache; returns the folder of tokenized entries."""
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tokenized"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture
def topics(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "topics.csv", class_rows(TOPIC_WORDS, 16))


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "pairs.csv", pair_rows(24))


@pytest.fixture
def tokenized_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of texts of each chunk given to the tokenizer, however it is called."""
    calls: list[int] = []
    encoder = tokenization.encoder

    def spy(tokenizer: Any, max_length: int, sample: Any) -> Callable[..., Any]:
        encode = encoder(tokenizer, max_length, sample)

        def counted(texts: list[str], pairs: list[str] | None) -> Any:
            calls.append(len(texts))
            return encode(texts, pairs)

        return counted

    monkeypatch.setattr(tokenization, "encoder", spy)
    return calls


def one_call(tokenizer: Any, examples: Examples, max_length: int) -> Any:
    return tokenizer(
        examples.texts,
        examples.text_pairs,
        truncation="longest_first",
        max_length=max_length,
        return_attention_mask=False,
    )


def entries(cache_dir: Path) -> list[str]:
    return sorted(path.name for path in cache_dir.iterdir()) if cache_dir.exists() else []


# ---------------------------------------------------------------- chunks


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
@pytest.mark.parametrize("paired", [False, True], ids=["single", "pairs"])
def test_chunks_give_the_ids_of_one_call(
    tokenizer: Any, topics: Path, pairs: Path, cache: bool, paired: bool
) -> None:
    examples = read_examples(pairs, PAIRS) if paired else read_examples(topics, DataConfig())
    label_ids = LabelSet.from_labels(examples.labels).encode(examples)
    max_length = 5  # cuts the longer texts, and most pairs (longest first)
    dataset = tokenize_examples(examples, tokenizer, max_length, label_ids, cache=cache, chunk_rows=5)

    expected = one_call(tokenizer, examples, max_length)
    assert dataset.column_names == ["input_ids", "token_type_ids", "length", "labels"]
    assert dataset["input_ids"] == expected["input_ids"]
    assert dataset["token_type_ids"] == expected["token_type_ids"]
    assert dataset["length"] == [len(ids) for ids in expected["input_ids"]]
    assert dataset["labels"] == label_ids
    assert any(1 in types for types in dataset["token_type_ids"]) == paired
    assert max(dataset["length"]) == max_length
    assert str(dataset.features["input_ids"].feature.dtype) == "int32"


def test_the_rust_backend_gives_the_ids_of_the_tokenizer(tokenizer: Any) -> None:
    # Special tokens written in a text, accents, capitals, runs of spaces, text to cut.
    texts = ["The GOOD [SEP] cake", "  pizza   ", "Café naïve Über", "goal " * 30, "x", "a [UNK] b"]
    pairs = ["song", "", "drum and piano", "team", "ball " * 30, "[CLS]"]
    encode = tokenizer_backend.backend_encoder(tokenizer, 12)
    assert encode is not None  # a fast tokenizer: the backend is used
    for second in (None, pairs):
        expected = tokenizer(texts, second, truncation="longest_first", max_length=12)
        encoded = tokenizer_backend.Encoded(expected["input_ids"], expected["token_type_ids"])
        assert tokenizer_backend.record_batch(encode(texts, second)).equals(
            tokenizer_backend.record_batch(encoded)
        )
    assert encode(texts, None).zero_type_ids  # BERT's single texts: type ids all 0, not listed
    assert not encode(texts, pairs).zero_type_ids


def test_type_ids_of_single_texts_are_listed_unless_all_zero(tiny_model_dir: Path, topics: Path) -> None:
    from tokenizers.processors import TemplateProcessing

    odd = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    odd.backend_tokenizer.post_processor = TemplateProcessing(  # XLNet-like: special tokens of type 2
        single="[CLS]:2 $A:0 [SEP]:2",
        pair="[CLS]:2 $A:0 [SEP]:2 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", odd.cls_token_id), ("[SEP]", odd.sep_token_id)],
    )
    encode = tokenizer_backend.backend_encoder(odd, 16)
    assert encode is not None
    assert not encode(["good cake"], None).zero_type_ids
    examples = read_examples(topics, DataConfig())
    dataset = tokenize_examples(examples, odd, 16, chunk_rows=10)
    assert dataset["token_type_ids"] == one_call(odd, examples, 16)["token_type_ids"]
    assert dataset["token_type_ids"][0][0] == 2


def test_a_tokenizer_class_with_its_own_call_is_called(tiny_model_dir: Path, topics: Path) -> None:
    base = type(AutoTokenizer.from_pretrained(str(tiny_model_dir)))

    class Counting(base):  # type: ignore[misc, valid-type]
        calls: list[int] = []  # noqa: RUF012

        def __call__(self, text: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(len(text))
            return super().__call__(text, *args, **kwargs)

    counting = Counting.from_pretrained(str(tiny_model_dir))
    assert tokenizer_backend.backend_encoder(counting, 16) is None
    examples = read_examples(topics, DataConfig())
    dataset = tokenize_examples(examples, counting, 16, chunk_rows=10)
    assert Counting.calls == [10, 10, 10, 10, 8]
    assert dataset["input_ids"] == one_call(counting, examples, 16)["input_ids"]


# ---------------------------------------------------------------- the cache


def test_a_second_run_reads_the_cache(
    tokenizer: Any,
    topics: Path,
    cache_dir: Path,
    tokenized_rows: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = tokenize_examples(read_examples(topics, DataConfig()), tokenizer, 16)
    assert sum(tokenized_rows) == 48
    [key] = entries(cache_dir)
    assert sorted(path.name for path in (cache_dir / key).iterdir()) == ["info.json", "tokens.arrow"]

    with caplog.at_level(logging.INFO, logger="textfit.tokenization"):
        again = tokenize_examples(read_examples(topics, DataConfig()), tokenizer, 16)
    assert sum(tokenized_rows) == 48, "the second run tokenized nothing"
    assert f"48 rows read from the tokenization cache {cache_dir / key}" in caplog.text
    assert again["input_ids"] == first["input_ids"]
    assert again["token_type_ids"] == first["token_type_ids"]
    assert entries(cache_dir) == [key]


def test_the_same_texts_in_another_file_read_the_cache(
    tokenizer: Any, tmp_path: Path, cache_dir: Path, tokenized_rows: list[int]
) -> None:
    rows = class_rows(TOPIC_WORDS, 4)
    tokenize_examples(read_examples(write_csv(tmp_path / "a.csv", rows), DataConfig()), tokenizer, 16)
    relabelled = [{"text": row["text"], "topic": "x" + row["label"]} for row in rows]
    copy = write_csv(tmp_path / "b.csv", relabelled)
    tokenize_examples(read_examples(copy, DataConfig(label_column="topic")), tokenizer, 16)
    assert sum(tokenized_rows) == 12  # the key is the texts, not the file or its labels
    assert len(entries(cache_dir)) == 1


def test_the_cache_key_changes_with_texts_max_length_tokenizer_and_columns(
    tokenizer: Any,
    tiny_model_dir: Path,
    tmp_path: Path,
    pairs: Path,
    cache_dir: Path,
    tokenized_rows: list[int],
) -> None:
    rows = pair_rows(4)
    path = write_csv(tmp_path / "p.csv", rows)
    tokenize_examples(read_examples(path, PAIRS), tokenizer, 16)

    rows[3] = {**rows[3], "hypothesis": rows[3]["hypothesis"] + " cake"}
    write_csv(path, rows)  # one text changed, in the same file
    tokenize_examples(read_examples(path, PAIRS), tokenizer, 16)
    tokenize_examples(read_examples(path, PAIRS), tokenizer, 12)
    other = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    other.add_tokens(["cakes"])
    tokenize_examples(read_examples(path, PAIRS), other, 12)
    tokenize_examples(read_examples(path, DataConfig(text_column="premise")), tokenizer, 12)

    assert tokenized_rows == [8] * 5  # each change tokenized the file again
    assert len(entries(cache_dir)) == 5


def test_splits_of_one_file_share_one_cache_entry(
    tokenizer: Any, topics: Path, cache_dir: Path, tokenized_rows: list[int]
) -> None:
    splits = load_splits(DataConfig(train_file=topics, validation_split=0.25), seed=0)
    labels = LabelSet.from_labels(splits.train.labels)
    datasets = [
        tokenize_examples(part, tokenizer, 16, labels.encode(part), chunk_rows=7)
        for part in (splits.train, splits.validation)
    ]
    assert sum(tokenized_rows) == 48  # the whole file once, for the first split
    assert len(entries(cache_dir)) == 1
    for part, dataset in zip((splits.train, splits.validation), datasets, strict=True):
        assert dataset["input_ids"] == one_call(tokenizer, part, 16)["input_ids"]  # row i is example i
        assert dataset["labels"] == labels.encode(part)
        assert dataset.num_rows == len(part)


def test_without_the_cache_only_the_examples_are_tokenized(
    tokenizer: Any, topics: Path, cache_dir: Path, tokenized_rows: list[int]
) -> None:
    splits = load_splits(DataConfig(train_file=topics, validation_split=0.25), seed=0)
    dataset = tokenize_examples(splits.validation, tokenizer, 16, cache=False)
    assert sum(tokenized_rows) == 12
    assert entries(cache_dir) == []
    assert dataset["input_ids"] == one_call(tokenizer, splits.validation, 16)["input_ids"]


def test_a_tokenizer_without_a_fast_backend_is_not_cached(
    tokenizer: Any, topics: Path, cache_dir: Path
) -> None:
    class Plain:  # a tokenizer with nothing to fingerprint
        model_input_names = tokenizer.model_input_names
        calls = 0

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            Plain.calls += 1
            return tokenizer(*args, **kwargs)

    examples = read_examples(topics, DataConfig())
    dataset = tokenize_examples(examples, Plain(), 16, chunk_rows=20)
    assert Plain.calls == 3
    assert entries(cache_dir) == []
    assert dataset["input_ids"] == one_call(tokenizer, examples, 16)["input_ids"]


def key_of(examples: Examples, tokenizer: Any, max_length: int) -> str:
    key = tokenization._cache_key(examples, tokenizer, max_length)
    assert key is not None
    return key


def test_partial_and_incomplete_folders_are_never_read(
    tokenizer: Any, topics: Path, cache_dir: Path, tokenized_rows: list[int]
) -> None:
    examples = read_examples(topics, DataConfig())
    key = key_of(examples, tokenizer, 16)
    # What a run killed while writing leaves: a partial folder, here with a plausible file in it.
    partial = cache_dir / f".partial-{key[:16]}-dead"
    partial.mkdir(parents=True)
    (partial / "tokens.arrow").write_bytes(b"half a file")
    (cache_dir / key).mkdir()  # an entry without its info.json: not complete
    (cache_dir / key / "tokens.arrow").write_bytes(b"garbage")

    dataset = tokenize_examples(examples, tokenizer, 16)
    assert sum(tokenized_rows) == 48
    assert dataset["input_ids"] == one_call(tokenizer, examples, 16)["input_ids"]
    assert (cache_dir / key / "info.json").is_file()
    assert partial.is_dir()  # a recent partial may be another run's: left alone


def test_old_partial_folders_are_removed(tokenizer: Any, topics: Path, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    old, recent = cache_dir / ".partial-old", cache_dir / ".partial-recent"
    for folder in (old, recent):
        folder.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    tokenize_examples(read_examples(topics, DataConfig()), tokenizer, 16)
    assert not old.exists()
    assert recent.exists()


def test_a_run_stopped_while_writing_leaves_no_entry(
    tokenizer: Any, topics: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = read_examples(topics, DataConfig())
    record_batch = tokenization.record_batch
    written: list[int] = []

    def fail_after_one(encoded: Any) -> pa.RecordBatch:
        if written:
            raise KeyboardInterrupt
        written.append(1)
        return record_batch(encoded)

    monkeypatch.setattr(tokenization, "record_batch", fail_after_one)
    with pytest.raises(KeyboardInterrupt):
        tokenize_examples(examples, tokenizer, 16, chunk_rows=10)
    assert entries(cache_dir) == []  # neither an entry nor its partial folder

    monkeypatch.setattr(tokenization, "record_batch", record_batch)
    dataset = tokenize_examples(examples, tokenizer, 16, chunk_rows=10)
    assert dataset["input_ids"] == one_call(tokenizer, examples, 16)["input_ids"]


def test_a_damaged_entry_is_tokenized_again(
    tokenizer: Any, topics: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    examples = read_examples(topics, DataConfig())
    tokenize_examples(examples, tokenizer, 16)
    (cache_dir / key_of(examples, tokenizer, 16) / "tokens.arrow").write_bytes(b"not arrow")
    with caplog.at_level(logging.WARNING, logger="textfit.tokenization"):
        dataset = tokenize_examples(examples, tokenizer, 16)
    assert "damaged tokenization cache" in caplog.text
    assert dataset["input_ids"] == one_call(tokenizer, examples, 16)["input_ids"]


def test_an_unwritable_cache_is_skipped_with_a_warning(
    tokenizer: Any,
    topics: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    monkeypatch.setenv("TEXTFIT_CACHE", str(blocker))
    examples = read_examples(topics, DataConfig())
    with caplog.at_level(logging.WARNING, logger="textfit.tokenization"):
        dataset = tokenize_examples(examples, tokenizer, 16)
    assert f"cannot use the tokenization cache in {blocker / 'tokenized'}" in caplog.text
    assert dataset["input_ids"] == one_call(tokenizer, examples, 16)["input_ids"]


# ---------------------------------------------------------------- lengths


def test_truncated_share_and_token_lengths(tokenizer: Any, tmp_path: Path) -> None:
    rows = [{"text": "pizza " * n, "label": "a" if n % 2 else "b"} for n in range(1, 11)]
    examples = read_examples(write_csv(tmp_path / "d.csv", rows), DataConfig())
    dataset = tokenize_examples(examples, tokenizer, 8)
    assert list(token_lengths(dataset)) == [min(n + 2, 8) for n in range(1, 11)]  # [CLS] ... [SEP]
    assert truncated_share(dataset, 8) == pytest.approx(0.5)  # 6 words and more fill 8 tokens


# ---------------------------------------------------------------- progress


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_progress_is_reported_after_each_chunk(tokenizer: Any, topics: Path, cache: bool) -> None:
    examples = read_examples(topics, DataConfig())
    calls: list[tuple[int, int]] = []

    tokenize_examples(
        examples, tokenizer, 16, cache=cache, chunk_rows=20, progress=lambda *c: calls.append(c)
    )

    assert calls == [(0, 48), (20, 48), (40, 48), (48, 48)]


def test_progress_of_a_cache_hit_is_one_call(tokenizer: Any, topics: Path) -> None:
    tokenize_examples(read_examples(topics, DataConfig()), tokenizer, 16)
    calls: list[tuple[int, int]] = []

    tokenize_examples(read_examples(topics, DataConfig()), tokenizer, 16, progress=lambda *c: calls.append(c))

    assert calls == [(48, 48)]
