"""The last layer at the first position only (textfit.accel.firsttoken): the same logits and gradients."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import tiny_config
from textfit.accel import fastpath, firsttoken

INPUT_IDS = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0], [2, 16, 3, 0, 0, 0]])
LABELS = torch.tensor([0, 1, 1])


def _bert(folder: Path, attention: str) -> Any:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        folder, attn_implementation=attention, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )


def _xlm_roberta(attention: str) -> Any:
    from transformers import XLMRobertaForSequenceClassification

    torch.manual_seed(0)
    config = tiny_config(
        "xlm-roberta",
        vocab_size=40,
        num_attention_heads=4,
        max_position_embeddings=16,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        attn_implementation=attention,
    )
    return XLMRobertaForSequenceClassification(config)


def _loss_and_gradients(model: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.train().zero_grad(set_to_none=True)
    output = model(input_ids=INPUT_IDS, attention_mask=(INPUT_IDS != 0).long(), labels=LABELS)
    output.loss.backward()
    return output.logits.detach(), {
        name: p.grad for name, p in model.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("attention", ["eager", "sdpa", "fast path"])
@pytest.mark.parametrize("architecture", ["bert", "xlm-roberta"])
def test_the_first_position_alone_gives_the_same_logits_and_gradients(
    tiny_model_dir: Path, attention: str, architecture: str
) -> None:
    implementation = "eager" if attention == "fast path" else attention
    reference = (
        _bert(tiny_model_dir, implementation) if architecture == "bert" else _xlm_roberta(implementation)
    )
    model = copy.deepcopy(reference)
    if attention == "fast path":
        assert "last layer at the first token" in fastpath.enable(model)
    else:
        assert firsttoken.enable(model)
    last = model.base_model.encoder.layer[-1]
    assert type(last).__name__.startswith("FirstToken")

    want_logits, want = _loss_and_gradients(reference)
    got_logits, got = _loss_and_gradients(model)
    torch.testing.assert_close(got_logits, want_logits, atol=1e-6, rtol=1e-5)
    assert got.keys() == want.keys()  # every weight still gets its gradient (the last query's too)
    for name, grad in want.items():
        if name.endswith("key.bias"):  # its true gradient is 0 (softmax ignores a per-row shift): noise
            continue
        torch.testing.assert_close(got[name], grad, atol=1e-6, rtol=1e-4, msg=name)
    with torch.no_grad():  # the last layer's output has the first position only
        hidden = model.base_model(input_ids=INPUT_IDS).last_hidden_state
    assert hidden.shape == (len(INPUT_IDS), 1, model.config.hidden_size)

    firsttoken.disable(model)
    assert type(last) is type(reference.base_model.encoder.layer[-1])
    assert model.state_dict().keys() == reference.state_dict().keys()


def test_other_architectures_and_heads_keep_their_layers(tiny_model_dir: Path) -> None:
    from transformers import (
        AutoModelForTokenClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    tokens = AutoModelForTokenClassification.from_pretrained(tiny_model_dir)  # reads every position
    distil = DistilBertForSequenceClassification(
        DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=37)
    )
    for model in (tokens, distil):
        assert not firsttoken.enable(model)
    bert = _bert(tiny_model_dir, "eager")
    assert firsttoken.enable(bert)
    assert firsttoken.enable(bert)  # twice: still one subclass deep
    assert type(bert.bert.encoder.layer[-1]).__bases__[0].__name__ == "BertLayer"
    assert all(type(layer).__name__ == "BertLayer" for layer in bert.bert.encoder.layer[:-1])


def test_under_other_attention_kernels_the_layer_runs_whole(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fastpath.ATTENTION in firsttoken._ATTENTIONS  # the fast path's attention takes one query
    reference = _bert(tiny_model_dir, "eager")
    model = copy.deepcopy(reference)
    firsttoken.enable(model)
    monkeypatch.setattr(firsttoken, "_ATTENTIONS", ())  # as under a flash kernel: the base forward
    want_logits, want = _loss_and_gradients(reference)
    got_logits, got = _loss_and_gradients(model)
    torch.testing.assert_close(got_logits, want_logits, atol=0, rtol=0)
    torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_classifier_load_computes_the_first_token_alone_where_bert_is_not_packed(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import textfit.accel.packed
    from textfit.inference.classifier import Classifier

    texts = ["good film", "a bad bad long film about nothing at all", "fine"] * 5
    folder = tiny_run_dir / "model"
    given = Classifier(  # a model given is left whole (it may go on training)
        AutoModelForSequenceClassification.from_pretrained(folder),
        AutoTokenizer.from_pretrained(folder),
        precision="fp32",
    )
    monkeypatch.setattr(
        textfit.accel.packed, "packable", lambda model, padding_side="right": False
    )  # as RoBERTa
    loaded = Classifier.load(tiny_run_dir, device="cpu", precision="fp32")

    assert loaded.fast_paths == ("firsttoken", "prepack")
    assert type(loaded.model.bert.encoder.layer[-1]).__name__ == "FirstTokenBertLayer"
    assert type(given.model.bert.encoder.layer[-1]).__name__ == "BertLayer"
    np.testing.assert_allclose(loaded.predict_proba(texts), given.predict_proba(texts), atol=1e-6)
