"""Classifier and predict_file on a saved tiny run, model_folder errors, and evaluate()."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import CLASS_WORDS, class_rows, read_csv
from textfit import Classifier, ConfigError, DataError, ModelError, evaluate, predict_file
from textfit.inference.batches import length_batches, pad_batch
from textfit.runs.model import model_folder

# Held-out sentences (the training table holds sentences 0-23 of each class, the test table 24-31).
HELD_OUT = class_rows(CLASS_WORDS, 6, start=40)
TEXTS = [row["text"] for row in HELD_OUT]
LABELS = [row["label"] for row in HELD_OUT]


@pytest.fixture(scope="module")
def classifier(tiny_run_dir: Path) -> Classifier:
    return Classifier.load(tiny_run_dir)


# ---------------------------------------------------------------- Classifier


def test_predict_gives_the_users_label_names(classifier: Classifier) -> None:
    predictions = classifier.predict(TEXTS)

    assert classifier.labels == ["negative", "positive"]
    assert [p.label for p in predictions] == LABELS


def test_predict_proba_rows_are_distributions_over_the_labels(classifier: Classifier) -> None:
    probabilities = classifier.predict_proba(TEXTS)

    assert probabilities.shape == (len(TEXTS), 2)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert [classifier.labels[i] for i in probabilities.argmax(axis=1)] == LABELS


def test_input_order_is_kept_though_batches_are_sorted_by_length(tiny_run_dir: Path) -> None:
    classifier = Classifier.load(tiny_run_dir, batch_size=2)  # several batches, sorted by length
    texts = [
        "the day was really good great it",
        "bad",
        "awful a sad",
        "good",
        "this movie was very terrible bad",
        "happy lovely",
    ]

    together = classifier.predict_proba(texts)
    alone = np.vstack([classifier.predict_proba([text]) for text in texts])

    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert [p.label for p in classifier.predict(texts)] == [
        "positive", "negative", "negative", "positive", "negative", "positive"
    ]  # fmt: skip


def test_top_k_is_ranked_and_capped_at_the_number_of_labels(classifier: Classifier) -> None:
    (one,) = classifier.predict(["good great"], top_k=1)
    (capped,) = classifier.predict(["good great"], top_k=5)

    assert one.top_k == [(one.label, one.score)]
    assert [label for label, _ in capped.top_k] == ["positive", "negative"]
    assert capped.top_k[0] == (capped.label, capped.score)
    assert capped.top_k[0][1] >= capped.top_k[1][1]
    assert sum(p for _, p in capped.top_k) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_a_single_string_is_refused_by_the_method_called(classifier: Classifier, method: str) -> None:
    call = getattr(classifier, method)

    with pytest.raises(TypeError) as err:
        call("good great")
    with pytest.raises(TypeError) as pair_err:
        call(["good"], "great")

    assert str(err.value) == (
        f"{method} takes a list of texts, not a single str: pass a list of texts, e.g. {method}([text])"
    )
    assert str(pair_err.value) == str(err.value)
    with pytest.raises(ValueError, match="2 texts but 1 text pairs"):
        call(["good", "bad"], ["sad"])


TEXTS_HINT = (
    "fill in or drop these texts (missing values of a table come as None or NaN); "
    "predict_file and `textfit predict` keep such rows, with empty predictions"
)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
@pytest.mark.parametrize(
    ("texts", "error"),
    [
        ([None], "texts[0] is None"),
        (["good", float("nan"), 3], "texts[1] is nan (float), texts[2] is 3 (int)"),
        (["good", ""], "texts[1] is empty"),
        (["  \n\t", "bad"], "texts[0] is whitespace only"),
    ],
)
def test_texts_that_are_not_strings_or_are_empty_are_named_by_position(
    classifier: Classifier, method: str, texts: list[Any], error: str
) -> None:
    with pytest.raises(DataError) as err:
        getattr(classifier, method)(texts)

    assert err.value.message == f"{error}; every text must be a string with at least one visible character"
    assert err.value.hint == TEXTS_HINT


def test_empty_text_pairs_are_named_by_position(classifier: Classifier) -> None:
    with pytest.raises(DataError, match=re.escape("text_pairs[1] is None; every text must be")):
        classifier.predict(["good", "bad"], ["great", None])  # type: ignore[list-item]


def test_texts_may_be_any_sequence_of_strings(classifier: Classifier) -> None:
    expected = classifier.predict_proba(TEXTS[:3])

    np.testing.assert_allclose(classifier.predict_proba(tuple(TEXTS[:3])), expected, atol=1e-6)
    np.testing.assert_allclose(classifier.predict_proba(np.asarray(TEXTS[:3])), expected, atol=1e-6)


def test_no_texts_give_no_predictions(classifier: Classifier) -> None:
    pair_model = copy.copy(classifier)
    pair_model.columns = {"text_pair_column": "hypothesis"}

    assert classifier.predict_proba([]).shape == (0, 2)
    assert classifier.predict([]) == []
    assert pair_model.predict([]) == [], "no texts need no pairs"
    with pytest.raises(DataError, match="trained on sentence pairs"):
        pair_model.predict(["good"])


def test_plain_transformers_pipeline_agrees_with_classifier(
    tiny_run_dir: Path, classifier: Classifier
) -> None:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(tiny_run_dir / "model"), device="cpu")

    outputs = classify(TEXTS, truncation=True)

    exact = Classifier.load(tiny_run_dir, precision="fp32").predict(TEXTS)
    assert [o["label"] for o in outputs] == [p.label for p in exact]
    assert [o["score"] for o in outputs] == pytest.approx([p.score for p in exact], abs=1e-5)
    assert [o["label"] for o in outputs] == [p.label for p in classifier.predict(TEXTS)]


def test_bf16_predictions_stay_close_to_fp32(tiny_run_dir: Path) -> None:
    fp32 = Classifier.load(tiny_run_dir, precision="fp32")
    bf16 = Classifier.load(tiny_run_dir, precision="bf16")

    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    np.testing.assert_allclose(bf16.predict_proba(TEXTS), fp32.predict_proba(TEXTS), atol=0.02)


def test_auto_precision_is_the_one_training_would_pick(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("textfit.modeling.cpu_has_fast_bf16", lambda: False)
    assert Classifier.load(tiny_run_dir, device="cpu").precision == "fp32"
    monkeypatch.setattr("textfit.modeling.cpu_has_fast_bf16", lambda: True)
    assert Classifier.load(tiny_run_dir, device="cpu").precision == "bf16"
    with pytest.raises(ModelError, match="fp16 needs a CUDA GPU"):
        Classifier.load(tiny_run_dir, device="cpu", precision="fp16")


@pytest.mark.parametrize("packed", [False, True])
def test_cpu_batches_hold_at_most_1024_padded_tokens_2048_packed(tiny_run_dir: Path, packed: bool) -> None:
    from textfit.inference.backends import PACKED_BATCH_SCALE, PackedCpuBackend

    classifier = Classifier.load(tiny_run_dir, device="cpu", fast_paths=["packed"] if packed else [])
    assert isinstance(classifier.backend, PackedCpuBackend) == packed  # the tiny run is BERT
    scale = PACKED_BATCH_SCALE if packed else 1  # packed BERT: twice the texts and tokens
    widths: list[tuple[int, int]] = []
    logits = classifier._logits
    classifier._logits = lambda features: (
        widths.append(  # type: ignore[method-assign]
            (len(features), max(len(f["input_ids"]) for f in features))
        )
        or logits(features)
    )
    texts = [" ".join(["word"] * n) for n in (3, 5, 8, 40, 60, 90, 120) for _ in range(20)]

    probabilities = classifier.predict_proba(texts)

    assert sum(rows for rows, _ in widths) == len(texts)
    assert all(rows * width <= 1024 * scale for rows, width in widths)
    assert max(rows for rows, _ in widths) == 64 * scale  # short texts still fill a whole batch
    assert np.allclose(
        probabilities,
        Classifier.load(tiny_run_dir, device="cpu", batch_size=1).predict_proba(texts),
        atol=1e-2,
    )


def test_length_batches_cap_rows_and_padded_tokens() -> None:
    lengths = [5, 300, 40, 7, 41, 6, 39, 8, 100, 101, 5]

    batches = length_batches(lengths, batch_size=3, max_tokens=200)

    assert sorted(int(i) for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(widths) <= 200
    assert [[lengths[i] for i in batch] for batch in batches] == [
        [5, 5, 6], [7, 8, 39], [40, 41], [100], [101], [300]
    ]  # fmt: skip


def test_a_model_folder_loads_like_its_run_folder(tiny_run_dir: Path, classifier: Classifier) -> None:
    direct = Classifier.load(tiny_run_dir / "model")

    np.testing.assert_allclose(direct.predict_proba(TEXTS), classifier.predict_proba(TEXTS), atol=1e-6)


# ---------------------------------------------------------------- model_folder errors


def test_missing_run_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"

    with pytest.raises(ModelError, match=re.escape(f"run folder {missing} does not exist")) as err:
        Classifier.load(missing)
    assert err.value.hint == "pass the --output-dir of a run"


def test_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=re.escape(f"{tmp_path} is not a textfit run")) as err:
        model_folder(tmp_path)
    assert "textfit train" in (err.value.hint or "")


def test_model_folder_without_weights(tiny_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    (run_dir / "model" / "model.safetensors").unlink()

    with pytest.raises(ModelError, match=re.escape(f"{run_dir / 'model'} has no safetensors weights")) as err:
        Classifier.load(run_dir)
    assert "train it again" in (err.value.hint or "")


# ---------------------------------------------------------------- predict_file

INPUT_ROWS = [
    {"id": "1", "text": "good great", "note": "=cmd|' /C calc'!A0"},
    {"id": "2", "text": "", "note": "empty text"},
    {"id": "3", "text": "awful sad", "note": "+1"},
    {"id": "4", "text": "=bad", "note": "@SUM(A1)"},
    {"id": "5", "text": "   ", "note": "-2"},
    {"id": "6", "text": "lovely happy", "note": "plain"},
]


def test_predict_file_to_csv_keeps_every_row_and_column(
    tiny_run_dir: Path, classifier: Classifier, make_csv: Any, tmp_path: Path
) -> None:
    input_file = make_csv("input.csv", INPUT_ROWS)
    output = tmp_path / "out" / "predictions.csv"

    count = predict_file(tiny_run_dir, str(input_file), str(output), classifier=classifier)

    rows = read_csv(output)
    assert count == len(rows) == len(INPUT_ROWS)
    assert list(rows[0]) == [
        "id",
        "text",
        "note",
        "predicted_label",
        "predicted_probability",
        "top_k",
    ]
    assert [row["id"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [row["predicted_label"] for row in rows] == [
        "positive",
        "",
        "negative",
        "negative",
        "",
        "positive",
    ]
    assert rows[1]["predicted_probability"] == ""
    assert rows[1]["top_k"] == "", "no prediction: empty cells, not an empty list"
    top_k = json.loads(rows[0]["top_k"])
    assert [label for label, _ in top_k] == ["positive", "negative"]
    assert float(rows[0]["predicted_probability"]) == pytest.approx(top_k[0][1])


def test_predict_file_to_csv_neutralises_formula_cells(
    tiny_run_dir: Path, classifier: Classifier, make_csv: Any, tmp_path: Path
) -> None:
    input_file = make_csv("input.csv", INPUT_ROWS)
    output = tmp_path / "predictions.csv"

    predict_file(tiny_run_dir, str(input_file), str(output), classifier=classifier)

    rows = read_csv(output)
    assert rows[0]["note"] == "'=cmd|' /C calc'!A0"
    assert rows[2]["note"] == "+1", "a number runs nothing and keeps its sign"
    assert rows[3]["text"] == "'=bad"
    assert rows[3]["note"] == "'@SUM(A1)"
    assert rows[4]["note"] == "-2"
    assert rows[5]["note"] == "plain"


def test_predict_file_jsonl_to_jsonl_keeps_values_and_empty_rows(
    tiny_run_dir: Path, classifier: Classifier, tmp_path: Path
) -> None:
    records = [
        {"id": 1, "text": "good great", "meta": {"source": "web"}},
        {"id": 2, "text": None},
        {"id": 3, "text": "=awful sad"},
    ]
    input_file = tmp_path / "input.jsonl"
    input_file.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    output = tmp_path / "predictions.jsonl"

    count = predict_file(tiny_run_dir, str(input_file), str(output), top_k=1, classifier=classifier)

    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert count == len(rows) == 3
    assert [row["id"] for row in rows] == [1, 2, 3]
    assert rows[0]["meta"] == {"source": "web"}
    assert rows[1] == {
        "id": 2,
        "text": None,
        "meta": None,
        "predicted_label": None,
        "predicted_probability": None,
        "top_k": None,
    }, "no prediction: JSON null in every prediction column, never an empty string"
    assert rows[2]["text"] == "=awful sad", "JSON Lines is data, not a spreadsheet: kept as it is"
    assert [row["predicted_label"] for row in rows] == ["positive", None, "negative"]
    assert isinstance(rows[0]["predicted_probability"], float)
    assert rows[0]["top_k"] == [["positive", rows[0]["predicted_probability"]]]


def test_predict_file_where_every_text_is_empty(
    tiny_run_dir: Path, classifier: Classifier, make_csv: Any, tmp_path: Path
) -> None:
    input_file = make_csv("input.csv", [{"id": "1", "text": ""}, {"id": "2", "text": "  "}])
    output = tmp_path / "predictions.csv"

    count = predict_file(tiny_run_dir, str(input_file), str(output), classifier=classifier)

    rows = read_csv(output)
    assert count == len(rows) == 2
    assert [(row["id"], row["predicted_label"], row["top_k"]) for row in rows] == [
        ("1", "", ""),
        ("2", "", ""),
    ]


def test_predict_file_gives_no_prediction_to_a_pair_with_an_empty_second_text(
    tiny_pair_run_dir: Path, make_csv: Any, tmp_path: Path
) -> None:
    rows = [
        {"premise": "pizza soup", "hypothesis": "good great"},
        {"premise": "bread cake", "hypothesis": " "},
        {"premise": "soup cake", "hypothesis": "awful sad"},
    ]
    output = tmp_path / "predictions.jsonl"
    pairs = Classifier.load(tiny_pair_run_dir, precision="fp32")

    predict_file(tiny_pair_run_dir, str(make_csv("input.csv", rows)), str(output), classifier=pairs)

    written = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["predicted_label"] for row in written] == ["positive", None, "negative"]
    with pytest.raises(DataError, match=re.escape("text_pairs[1] is whitespace only")):
        pairs.predict([row["premise"] for row in rows], [row["hypothesis"] for row in rows])


def test_predict_file_refuses_parquet_output(
    tiny_run_dir: Path, classifier: Classifier, make_csv: Any, tmp_path: Path
) -> None:
    input_file = make_csv("input.csv", INPUT_ROWS)

    with pytest.raises(DataError, match="cannot write predictions as Parquet"):
        predict_file(tiny_run_dir, str(input_file), str(tmp_path / "out.parquet"), classifier=classifier)


# ---------------------------------------------------------------- evaluate


def test_evaluate_returns_metrics_and_writes_them_as_json(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "metrics.json"

    report = evaluate(tiny_run_dir, binary_test_csv, output=output)

    assert report.output == output
    assert report.source == binary_test_csv
    assert json.loads(output.read_text(encoding="utf-8")) == report.metrics
    assert report.metrics["samples"] == 16
    assert report.metrics["accuracy"] >= 0.9
    assert report.metrics["labels"] == ["negative", "positive"]
    assert sum(map(sum, report.metrics["confusion_matrix"])) == 16
    assert report.metrics["file"] == str(binary_test_csv)
    assert report.metrics["precision"] in ("bf16", "fp32")


def test_evaluate_writes_beside_the_run_by_default(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)

    report = evaluate(run_dir, binary_test_csv)

    assert report.output == run_dir / "eval-binary_test.json"
    assert report.output.is_file()


def test_evaluate_never_writes_over_the_table_it_reads(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 18, item 1: an output of a command must never replace one of its inputs.
    data = Path(shutil.copy(binary_test_csv, tmp_path / "test.csv"))
    before = data.read_bytes()

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        evaluate(tiny_run_dir, data, output="test.csv")  # the same file, named another way
    assert err.value.message == f"evaluating {data} would write over it: test.csv is that file"
    assert err.value.hint == "pass --output with another file name (evaluate never replaces its input)"
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv"]


def test_evaluate_names_the_row_of_an_unknown_label(
    tiny_run_dir: Path, classifier: Classifier, make_csv: Any
) -> None:
    rows = [
        {"text": "good great", "label": "positive"},
        {"text": "awful sad", "label": "negative"},
        {"text": "the day", "label": "neutral"},
    ]
    data_file = make_csv("unknown.csv", rows)

    with pytest.raises(DataError) as err:
        evaluate(tiny_run_dir, data_file, classifier=classifier)
    message = err.value.message
    assert message.startswith(f"{data_file}: ")
    assert "row 3 (line 4) has label 'neutral'" in message
    assert message.endswith("Labels the model knows: 'negative', 'positive'")
    assert err.value.hint == "fix those labels, or retrain with them in the training file"


def test_a_loaded_model_predicts_in_bf16_weights_and_eager_attention_with_the_fp32_labels(
    tiny_run_dir: Path,
) -> None:
    texts = ["good great day", "awful sad movie", "it was really lovely", "terrible bad it is"]
    fp32 = Classifier.load(tiny_run_dir, precision="fp32")
    bf16 = Classifier.load(tiny_run_dir, precision="bf16")

    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32}
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}  # cast once, not per batch
    assert bf16.model.config._attn_implementation == "eager"  # on a CPU: cheaper than SDPA's kernel
    expected = fp32.predict_proba(texts)
    got = bf16.predict_proba(texts)
    assert got.dtype == np.float32
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    np.testing.assert_allclose(got, expected, atol=0.03)


def test_a_model_given_to_a_classifier_keeps_its_weights_and_attention(tiny_run_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_run_dir / "model")
    attention = model.config._attn_implementation
    classifier = Classifier(model, AutoTokenizer.from_pretrained(tiny_run_dir / "model"), precision="bf16")

    classifier.predict(["good day"])

    assert {p.dtype for p in model.parameters()} == {torch.float32}  # it may go on training
    assert model.config._attn_implementation == attention


MMAPPED_BLOCKS_AFTER_4_MIB = """
import ctypes, os, sys
from textfit.modeling import keep_freed_memory

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.mallinfo2.restype = ctypes.c_void_p, MallInfo2
print(keep_freed_memory())
mapped = libc.mallinfo2().hblks
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - mapped)
"""


@pytest.mark.subprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
@pytest.mark.parametrize("tunables", [None, "glibc.malloc.check=0"])
def test_keep_freed_memory_serves_mid_sized_blocks_from_the_heap(tunables: str | None) -> None:
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    env.update({"GLIBC_TUNABLES": tunables} if tunables else {})
    run = subprocess.run(
        [sys.executable, "-c", MMAPPED_BLOCKS_AFTER_4_MIB],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    # glibc maps a fresh 4 MiB block of its own (threshold 128 KiB) unless told to keep up to 32 MiB;
    # a user's GLIBC_TUNABLES is left alone.
    assert run.stdout.split() == (["True", "0"] if tunables is None else ["False", "1"])


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("multiple", [None, 8])
@pytest.mark.parametrize("keys", ["bert", "no token types", "special tokens mask"])
def test_pad_batch_pads_as_the_tokenizer_does(
    tiny_model_dir: Path, side: str, multiple: int | None, keys: str
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side=side)
    tokenizer.pad_token = "[UNK]"  # pad id and pad type not 0, so that a wrong fill shows
    tokenizer._pad_token_type_id = 3
    encoded = tokenizer(
        ["good film", "a bad bad long film about nothing at all", "fine"],
        ["bad", "good", "a long answer to a short text"],
        return_special_tokens_mask=keys == "special tokens mask",  # a key pad_batch leaves to the tokenizer
    )
    if keys == "no token types":  # RoBERTa and the like
        del encoded["token_type_ids"]
    features = [
        dict(zip(encoded.keys(), values, strict=True)) for values in zip(*encoded.values(), strict=True)
    ]

    got = pad_batch(features, tokenizer, multiple)
    want = tokenizer.pad(features, pad_to_multiple_of=multiple, return_tensors="np")

    assert set(got) == set(want)
    for key, values in want.items():
        assert got[key].dtype == np.int64
        np.testing.assert_array_equal(got[key], values, err_msg=key)
    assert got["input_ids"].shape[1] == (16 if multiple else max(len(ids) for ids in encoded["input_ids"]))
