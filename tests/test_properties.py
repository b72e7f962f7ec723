"""Property-based tests (hypothesis) of the table reader and the label handling.

Tables of random texts (any Unicode, quotes, delimiters, line breaks, leading = + - @) and labels are
written as CSV, TSV, JSON Lines and Parquet by the standard writers; textfit must read back every
row, its text and its label exactly. Label ids depend on the set of labels only, not on row order.
"""

from __future__ import annotations

import csv
import json
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from textfit.config.schema import DataConfig
from textfit.data.labels import LabelSet
from textfit.data.rows import read_examples
from textfit.data.splits import load_splits

TRICKY = [
    '"',
    "'",
    ",",
    ";",
    "\t",
    "|",
    "\n",
    "\r\n",
    "\r",
    "=",
    "+",
    "-",
    "@",
    " ",
    "\u2028",
    "\ufeff",
    "\x85",
]
# Any character but surrogates (not encodable) and NUL (refused by the reader: tests/test_hostile.py).
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXTS = (
    st.lists(
        st.one_of(st.text(CHARACTERS, min_size=1, max_size=12), st.sampled_from(TRICKY)),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda text: bool(text.strip()))
)
# Labels are stripped when read: generate them stripped.
LABELS = st.one_of(
    st.sampled_from(["pos", "neg", "0", "1", "10", "2.5", "=SUM(A1)", "-1", "a,b", 'say "x"', "caf\u00e9"]),
    st.text(CHARACTERS, min_size=1, max_size=8),
).filter(lambda label: bool(label) and label == label.strip())
ROWS = st.lists(st.tuples(TEXTS, LABELS), min_size=1, max_size=25)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write_table(folder: Path, fmt: str, rows: list[tuple[str, str]]) -> Path:
    """Write rows {text, label} with the standard writer of each format."""
    if fmt == "parquet":
        path = folder / "t.parquet"
        pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]}), path)
        return path
    if fmt == "jsonl":
        path = folder / "t.jsonl"
        lines = [json.dumps({"text": text, "label": label}) for text, label in rows]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path
    path = folder / ("t.tsv" if fmt == "tsv" else "t.csv")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
@FAST
@given(rows=ROWS)
@example(rows=[('";', "pos")])  # found by hypothesis: the sniffer took ';' from the text
def test_every_row_text_and_label_round_trips(fmt: str, rows: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp), fmt, rows)
        examples = read_examples(path, DataConfig())
        assert examples.dropped == 0
        assert examples.texts == [text for text, _ in rows]
        assert examples.labels == [label for _, label in rows]
        assert examples.rows == list(range(len(rows)))


@FAST
@given(rows=ROWS, delimiter=st.sampled_from([",", ";", "|", "\t"]))
def test_a_given_delimiter_round_trips(rows: list[tuple[str, str]], delimiter: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
        examples = read_examples(path, DataConfig(delimiter=delimiter))
        assert list(zip(examples.texts, examples.labels, strict=True)) == rows


@FAST
@given(rows=ROWS, seed=st.integers(0, 2**16))
def test_label_ids_depend_on_the_labels_not_the_row_order(rows: list[tuple[str, str]], seed: int) -> None:
    labels = [label for _, label in rows]
    shuffled = labels[:]
    random.Random(seed).shuffle(shuffled)
    label_set = LabelSet.from_labels(labels)
    assert LabelSet.from_labels(shuffled) == label_set
    assert sorted(label_set.names) == sorted(set(labels))
    assert {label_set.id2label[i] for i in label_set.label2id.values()} == set(labels)
    assert all(label_set.label2id[name] == i for i, name in label_set.id2label.items())


@FAST
@given(rows=ROWS, fmt=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_encoded_label_ids_decode_to_the_labels_read(rows: list[tuple[str, str]], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp), fmt, rows)
        examples = read_examples(path, DataConfig())
        label_set = LabelSet.from_labels(examples.labels)
        ids = label_set.encode(examples)
        assert [label_set.id2label[i] for i in ids] == [label for _, label in rows]


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(TEXTS, st.sampled_from(["pos", "neg", "-1", "=x"])), min_size=2, max_size=25))
def test_splits_from_a_validation_file_keep_every_row(rows: list[tuple[str, str]]) -> None:
    rows = [*rows, ("one more", "pos"), ("and another", "neg")]  # at least two classes
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp), "csv", rows)
        splits = load_splits(DataConfig(train_file=path, validation_file=path), seed=0)
        assert splits.train.labels == splits.validation.labels == [label for _, label in rows]
        assert len(splits.train) == len(rows)
