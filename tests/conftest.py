"""Shared fixtures: a tiny BERT built in the test, toy labelled tables, and one trained tiny run.

The tiny model (2 layers, hidden 32) trains in under a second on one thread; in the toy tasks each
class has its own words, so a model that learns anything at all scores far above chance.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Before anything imports transformers: no hub requests (a missing model fails at once), no chatter.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tokenized data of the test runs goes to a folder of its own, not ~/.cache/textfit.
os.environ.setdefault("TEXTFIT_CACHE", tempfile.mkdtemp(prefix="textfit-test-cache-"))

import pytest
import torch

from textfit import TrainResult

# On 2 cores a tiny model's step takes ~3.6 ms with one thread and ~0.85 s with two.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_textfit_logger() -> Iterator[None]:
    """The CLI points the textfit logger at its stderr; put it back after each test."""
    logger = logging.getLogger("textfit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CLASS_WORDS = {
    "positive": ["good", "great", "happy", "lovely"],
    "negative": ["bad", "awful", "sad", "terrible"],
}
TOPIC_WORDS = {
    "sports": ["ball", "goal", "team", "match"],
    "food": ["pizza", "bread", "soup", "cake"],
    "music": ["song", "guitar", "drum", "piano"],
}
FILLER_WORDS = ["the", "a", "this", "was", "is", "very", "really", "it", "day", "movie", "about"]
VOCAB_WORDS = sorted(
    {word for words in [*CLASS_WORDS.values(), *TOPIC_WORDS.values()] for word in words} | set(FILLER_WORDS)
)

# Settings that make a tiny-model run take a fraction of a second; tests override what they test.
TINY_TRAIN_SETTINGS: dict[str, Any] = {
    "epochs": 5,
    "learning_rate": 5e-3,
    "lr_scheduler": "constant",
    "warmup_ratio": 0.0,
    "batch_size": 4,
    "eval_batch_size": 32,
    "max_length": 16,
    "precision": "fp32",
    "eval_strategy": "epoch",
    "save_strategy": "no",
    "load_best_model_at_end": False,
    "logging_strategy": "no",
    "group_by_length": False,
    "seed": 0,
}


def _sentences(class_words: list[str], seed: str) -> Iterator[str]:
    """Distinct sentences of two class words among up to two filler words, in a seeded order.

    The class words are the whole signal: a model that learns anything scores far above chance.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    while True:
        words = rng.sample(class_words, 2) + rng.sample(FILLER_WORDS, rng.randint(0, 2))
        rng.shuffle(words)
        sentence = " ".join(words)
        if sentence not in seen:
            seen.add(sentence)
            yield sentence


def class_rows(
    classes: dict[str, list[str]], per_class: int, start: int = 0, seed: int = 0
) -> list[dict[str, Any]]:
    """Rows {text, label}: sentences start .. start + per_class of each class, shuffled.

    Tables made with the same seed and disjoint ranges (train 0-23, test 24-31) share no text.
    """
    rows = [
        {"text": text, "label": name}
        for name, words in classes.items()
        for text in itertools.islice(_sentences(words, f"{seed}-{name}"), start, start + per_class)
    ]
    random.Random(seed + start).shuffle(rows)
    return rows


def pair_rows(per_class: int, start: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """Sentence pairs whose label only the second text carries: learnable only as a pair."""
    rows = []
    for name, words in CLASS_WORDS.items():
        firsts = _sentences(TOPIC_WORDS["food"], f"{seed}-premise-{name}")
        seconds = _sentences(words, f"{seed}-{name}")
        for first, second in itertools.islice(zip(firsts, seconds, strict=False), start, start + per_class):
            rows.append({"premise": first, "hypothesis": second, "label": name})
    random.Random(seed + start).shuffle(rows)
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, Any]], fieldnames: list[str] | None = None) -> Path:
    """Write rows as a CSV with a header; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# The architectures tiny_config builds: the prediction, prepacking and training fast-path tests
# each run over all of them.
TINY_ARCHITECTURES = (
    "bert",
    "distilbert",
    "roberta",
    "xlm-roberta",
    "deberta-v2",
    "electra",
    "mpnet",
    "modernbert",
)


def tiny_config(architecture: str, **overrides: Any) -> Any:
    """A transformers config of a two-layer, 32-wide classifier of that architecture (TINY_ARCHITECTURES),
    with overrides."""
    import transformers

    if architecture == "distilbert":  # names of its own
        sizes = {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 48}
        return transformers.DistilBertConfig(
            **sizes, vocab_size=100, max_position_embeddings=64, num_labels=3, **overrides
        )
    small = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 48,
        "vocab_size": 100,
        "max_position_embeddings": 64,
        "num_labels": 3,
    }
    if architecture == "modernbert":  # its special tokens default to ids beyond a small vocabulary
        small |= {"pad_token_id": 0, "bos_token_id": 1, "cls_token_id": 1, "eos_token_id": 2}
        small["sep_token_id"] = 2
    if architecture == "electra":
        small["embedding_size"] = 16
    config_class = {
        "bert": transformers.BertConfig,
        "roberta": transformers.RobertaConfig,
        "xlm-roberta": transformers.XLMRobertaConfig,
        "deberta-v2": transformers.DebertaV2Config,
        "electra": transformers.ElectraConfig,
        "mpnet": transformers.MPNetConfig,
        "modernbert": transformers.ModernBertConfig,
    }[architecture]
    return config_class(**(small | overrides))


@pytest.fixture
def all_threads() -> Iterator[None]:
    """A real encoder is faster on every core (conftest's one thread suits only tiny models)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, len(os.sched_getaffinity(0))))
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the tiny model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised 2-layer BERT (hidden 32) with a fast WordPiece tokenizer, saved as
    save_pretrained writes it (config.json, model.safetensors, tokenizer files)."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *VOCAB_WORDS])}
    # transformers 5: BertTokenizerFast(vocab_file=...) ignores the file (every word -> [UNK]).
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        initializer_range=0.1,  # at BERT's 0.02 a 3-class task often stalls with 2 classes merged
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)  # safetensors by default
    tokenizer.save_pretrained(folder)

    ids = tokenizer(" ".join(VOCAB_WORDS), add_special_tokens=False)["input_ids"]
    assert len(ids) == len(VOCAB_WORDS)
    assert tokenizer.unk_token_id not in ids, "the tiny tokenizer maps test words to [UNK]"
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="session")
def tiny_settings(tiny_model_dir: Path) -> dict[str, Any]:
    """Keyword settings for textfit.train with the tiny model (copy before changing)."""
    return {"model": str(tiny_model_dir), **TINY_TRAIN_SETTINGS}


# ---------------------------------------------------------------- toy tables


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of toy tables shared by the whole session; tests must not change them."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def binary_csv(data_dir: Path) -> Path:
    """2-class task (positive / negative), 24 rows per class."""
    return write_csv(data_dir / "binary.csv", class_rows(CLASS_WORDS, 24))


@pytest.fixture(scope="session")
def binary_test_csv(data_dir: Path) -> Path:
    """Held-out rows of the 2-class task, 8 per class."""
    return write_csv(data_dir / "binary_test.csv", class_rows(CLASS_WORDS, 8, start=24))


@pytest.fixture(scope="session")
def topics_csv(data_dir: Path) -> Path:
    """3-class task (sports / food / music), 16 rows per class."""
    return write_csv(data_dir / "topics.csv", class_rows(TOPIC_WORDS, 16))


@pytest.fixture(scope="session")
def topics_test_csv(data_dir: Path) -> Path:
    """Held-out rows of the 3-class task, 6 per class."""
    return write_csv(data_dir / "topics_test.csv", class_rows(TOPIC_WORDS, 6, start=16))


@pytest.fixture(scope="session")
def pairs_csv(data_dir: Path) -> Path:
    """Sentence pairs (premise, hypothesis, label): only the second text carries the label."""
    return write_csv(data_dir / "pairs.csv", pair_rows(24))


@pytest.fixture(scope="session")
def pairs_test_csv(data_dir: Path) -> Path:
    """Held-out sentence pairs."""
    return write_csv(data_dir / "pairs_test.csv", pair_rows(8, start=24))


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows to a CSV in tmp_path: make_csv("name.csv", rows, fieldnames=None)."""

    def make(name: str, rows: Sequence[dict[str, Any]], fieldnames: list[str] | None = None) -> Path:
        return write_csv(tmp_path / name, rows, fieldnames)

    return make


# ---------------------------------------------------------------- one trained run


@pytest.fixture(scope="session")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_settings: dict[str, Any],
    binary_csv: Path,
    binary_test_csv: Path,
) -> TrainResult:
    """One tiny run on the 2-class task, with a test file; shared by train, predict and CLI tests.

    Its run folder must not be changed by tests.
    """
    from textfit import train

    output_dir = tmp_path_factory.mktemp("runs") / "binary"
    return train(
        train_file=binary_csv,
        test_file=binary_test_csv,
        output_dir=output_dir,
        progress=False,
        **tiny_settings,
    )


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_run: TrainResult) -> Path:
    """The run folder of the shared tiny run."""
    return Path(tiny_run.run_dir)


@pytest.fixture(scope="session")
def tiny_pair_run_dir(
    tmp_path_factory: pytest.TempPathFactory, tiny_settings: dict[str, Any], pairs_csv: Path
) -> Path:
    """The run folder of a tiny sentence-pair run (premise, hypothesis); tests must not change it."""
    from textfit import train

    result = train(
        train_file=pairs_csv,
        text_column="premise",
        text_pair_column="hypothesis",
        output_dir=tmp_path_factory.mktemp("runs") / "pairs",
        progress=False,
        **{**tiny_settings, "epochs": 8},
    )
    return Path(result.run_dir)
