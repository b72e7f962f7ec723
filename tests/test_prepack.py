"""Linear layers with weights reordered once for prediction on a CPU (textfit.accel.prepack)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import TINY_ARCHITECTURES, tiny_config
from textfit.accel import prepack
from textfit.accel.prepack import PrepackedLinear, linear, prepack_linears
from textfit.inference.classifier import Classifier


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("shape", [(7, 48), (3, 5, 48), (0, 48)])
def test_a_prepacked_product_is_torch_s_linear(
    dtype: torch.dtype, tolerance: float, shape: tuple[int, ...]
) -> None:
    generator = torch.Generator().manual_seed(1)
    weight = (torch.randn(40, 48, generator=generator) / 7).to(dtype)
    bias = torch.randn(40, generator=generator).to(dtype)
    x = torch.randn(shape, generator=generator).to(dtype)

    product = linear(weight, bias)

    # fp32 on every x86 CPU; bf16 only where oneDNN runs bf16 on this CPU (AVX-512 BF16 or AMX).
    reorders = dtype == torch.float32 or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert isinstance(product, PrepackedLinear) == reorders
    with torch.inference_mode():
        got = product(x)
        no_bias = linear(weight, None)(x)
    assert got.shape == (*shape[:-1], 40)
    assert got.dtype == dtype
    torch.testing.assert_close(got, nn.functional.linear(x, weight, bias), atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(no_bias, nn.functional.linear(x, weight), atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("plain", [False, True], ids=["this CPU's product", "plain product"])
def test_fp32_input_meets_bf16_weights_as_under_autocast(
    plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    weight, x = torch.randn(8, 16).bfloat16(), torch.randn(4, 16)
    if plain:  # as on a CPU without bf16 in oneDNN: the plain product casts as the prepacked one
        monkeypatch.setattr(prepack, "_works", lambda dtype: False)

    got = linear(weight, None)(x)

    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, nn.functional.linear(x.bfloat16(), weight))


def test_where_onednn_cannot_the_plain_linear_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    weight = torch.randn(8, 16)
    monkeypatch.setattr(prepack, "_works", lambda dtype: False)
    model = nn.Sequential(nn.Linear(16, 8))

    product = linear(weight, None)

    assert not isinstance(product, PrepackedLinear)
    torch.testing.assert_close(product(torch.ones(2, 16)), torch.ones(2, 16) @ weight.T)
    assert prepack_linears(model) == 0
    assert type(model[0]) is nn.Linear
    assert not isinstance(linear(weight.half(), None), PrepackedLinear)  # fp16: not reordered


def test_prepack_linears_swaps_every_linear_and_keeps_the_logits(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    batch = tokenizer(["a good film", "bad", "the plot was slow but fine"], padding=True, return_tensors="pt")
    linears = sum(type(module) is nn.Linear for module in model.modules())
    with torch.inference_mode():
        want = model(**batch).logits

        assert prepack_linears(model) == linears > 0
        got = model(**batch).logits

    assert not any(type(module) is nn.Linear for module in model.modules())
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("packed_bert", [True, False])
def test_classifier_load_prepacks_and_predicts_as_the_saved_model(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch, packed_bert: bool
) -> None:
    from textfit.accel import packed

    texts = ["good film", "a bad bad long film about nothing at all", "fine"] * 5
    if not packed_bert:  # the model's own forward, as for RoBERTa, DeBERTa and the rest
        monkeypatch.setattr(packed, "packable", lambda *args: False)
    classifier = Classifier.load(tiny_run_dir, device="cpu", precision="fp32")
    monkeypatch.setattr(prepack, "prepack_linears", lambda model: 0)
    plain = Classifier.load(tiny_run_dir, device="cpu", precision="fp32")

    assert classifier.fast_paths == (("packed",) if packed_bert else ("firsttoken",)) + ("prepack",)
    assert any(isinstance(module, PrepackedLinear) for module in classifier.model.modules())
    assert not any(isinstance(module, PrepackedLinear) for module in plain.model.modules())
    torch.testing.assert_close(
        torch.from_numpy(classifier.predict_proba(texts)),
        torch.from_numpy(plain.predict_proba(texts)),
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_every_architecture_keeps_its_logits_prepacked(architecture: str) -> None:
    from transformers import AutoModelForSequenceClassification

    from textfit.accel import firsttoken

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(tiny_config(architecture)).eval()
    input_ids = torch.randint(5, 100, (3, 9))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0  # a padded text
    with torch.inference_mode():
        want = model(input_ids=input_ids, attention_mask=attention_mask).logits
        firsttoken.enable(model)  # as Classifier.load prepares the RoBERTa family
        swapped = prepack_linears(model)
        got = model(input_ids=input_ids, attention_mask=attention_mask).logits

    assert swapped >= 10  # each layer's projections and feed-forward, and the head
    assert not any(type(module) is nn.Linear for module in model.modules())
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
