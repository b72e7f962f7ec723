"""BERT prediction on packed tokens (textfit.accel.packed): the model's logits, without its padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from textfit.accel.packed import PackedBert, packable
from textfit.inference.backends import EagerBackend, PackedCpuBackend
from textfit.inference.classifier import Classifier

TEXTS = ["good film", "a bad bad long film about nothing at all", "fine", "the plot was good but slow"]
PAIRS = ["bad", "good film indeed", "a long answer to a short text", "no"]


def _model_and_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
    return model.eval(), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("pairs", [False, True])
def test_packed_logits_equal_the_model_s_own_in_fp32(tiny_model_dir: Path, pairs: bool) -> None:
    model, tokenizer = _model_and_tokenizer(tiny_model_dir)
    batch = tokenizer(TEXTS, PAIRS if pairs else None, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any(), "the batch has padding"
    assert (batch["token_type_ids"] == 1).any() == pairs

    with torch.inference_mode():
        want = model(**batch).logits
        got = PackedBert(model)(**batch)
        alone = [PackedBert(model)(**tokenizer([text], return_tensors="pt")) for text in TEXTS[:2]]

    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    if not pairs:  # a text's logits do not depend on the other texts of its batch
        torch.testing.assert_close(torch.cat(alone), want[:2], atol=1e-5, rtol=1e-5)


def test_only_right_padded_bert_classifiers_on_a_cpu_are_packed(tiny_model_dir: Path) -> None:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model, _ = _model_and_tokenizer(tiny_model_dir)
    assert packable(model)
    assert not packable(model, padding_side="left")  # BERT then pools a padding token
    other = DistilBertForSequenceClassification(
        DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=37)
    )
    assert not packable(other)


def test_classifier_load_packs_bert_and_predicts_as_the_model_in_bf16(
    tiny_run_dir: Path, tiny_model_dir: Path
) -> None:
    classifier = Classifier.load(tiny_run_dir, device="cpu", precision="bf16")
    assert isinstance(classifier.backend, PackedCpuBackend)
    assert isinstance(classifier.backend.packed, PackedBert)
    texts = TEXTS * 30  # several batches of several lengths
    classifier.batch_size = 16
    packed = classifier.predict_proba(texts)
    classifier.backend = EagerBackend(classifier.model, torch.bfloat16)  # the same model's own forward
    own = classifier.predict_proba(texts)

    np.testing.assert_allclose(packed, own, atol=0.02)
    assert (packed.argmax(axis=1) == own.argmax(axis=1)).all()

    model, tokenizer = _model_and_tokenizer(tiny_model_dir)
    given = Classifier(model, tokenizer)  # a model given, which may go on training
    assert (type(given.backend), given.fast_paths) == (EagerBackend, ())


@pytest.mark.parametrize("multiple", [1, 5, 32])
def test_rows_rounded_up_leave_the_logits_as_they_are(
    tiny_model_dir: Path, multiple: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textfit.accel.packed

    model, tokenizer = _model_and_tokenizer(tiny_model_dir)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    monkeypatch.setattr(textfit.accel.packed, "ROWS_MULTIPLE", multiple)
    monkeypatch.setattr(textfit.accel.packed, "TEXTS_MULTIPLE", multiple)  # the last layer's rows
    with torch.inference_mode():
        torch.testing.assert_close(PackedBert(model)(**batch), model(**batch).logits, atol=1e-5, rtol=1e-5)
