"""The CPU training fast path: dropout masks, the attention function, and switching a model over."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from conftest import TINY_ARCHITECTURES, tiny_config
from textfit.accel import fastpath, firsttoken
from textfit.accel.training import clip_gradients, prepare_for_training


def test_keep_mask_keeps_one_minus_p_and_follows_the_seed() -> None:
    torch.manual_seed(0)
    mask = fastpath.keep_mask((1000, 999), 0.1)
    torch.manual_seed(0)
    again = fastpath.keep_mask((1000, 999), 0.1)

    assert mask.shape == (1000, 999)
    assert mask.dtype == torch.bool
    assert mask.float().mean().item() == pytest.approx(0.9, abs=0.002)
    assert torch.equal(mask, again)
    assert fastpath.keep_mask((50, 50), 0.5).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_dropout_zeroes_scales_and_passes_gradients_through_the_kept_elements() -> None:
    x = torch.ones(200, 300, requires_grad=True)

    y = fastpath.dropout(x, 0.25)
    y.sum().backward()

    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert torch.allclose(y[kept], torch.tensor(4 / 3))
    assert x.grad is not None
    assert torch.equal(x.grad, kept * (4 / 3))
    assert fastpath.dropout(x, 0.25, training=False) is x
    assert fastpath.dropout(x, 0.0) is x


def _reference_attention(q, k, v, mask, scaling, keep=None, p=0.0):  # type: ignore[no-untyped-def]
    probs = torch.softmax(q @ k.transpose(-1, -2) * scaling + mask, dim=-1)
    if keep is not None:
        probs = probs * keep / (1 - p)
    return probs @ v


@pytest.mark.parametrize("p", [0.0, 0.2])
def test_attention_matches_softmax_attention_forward_and_backward(p: float) -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 4, requires_grad=True) for _ in range(3))
    mask = torch.zeros(2, 1, 7, 7)
    mask[1, ..., 4:] = torch.finfo(torch.float32).min  # the second text has 4 tokens
    grad = torch.randn(2, 3, 7, 4)

    torch.manual_seed(2)
    out = fastpath._Attention.apply(q, k, v, mask, 0.5, p)
    ours = torch.autograd.grad(out, (q, k, v), grad)
    torch.manual_seed(2)  # the same dropout mask: the function draws it first
    keep = fastpath.keep_mask((2, 3, 7, 7), p) if p else None
    reference = _reference_attention(q, k, v, mask, 0.5, keep, p)
    expected = torch.autograd.grad(reference, (q, k, v), grad)

    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    for got, want in zip(ours, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_masked_equals_the_product_with_the_bool_mask(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 33, 17).to(dtype)
    keep = fastpath.keep_mask(x.shape, 0.3)
    got = fastpath._masked(x, keep, 1 / 0.7)
    assert got.dtype == dtype
    assert torch.equal(got, x.mul(keep).mul_(1 / 0.7))


def test_attention_on_bf16_head_views_matches_fp32_attention() -> None:
    """Query, key and value as the model passes them: bf16 views across heads, not contiguous."""
    torch.manual_seed(3)
    projected = torch.randn(2, 9, 3, 4, 8, dtype=torch.bfloat16, requires_grad=True)
    q, k, v = (projected[:, :, i].transpose(1, 2) for i in range(3))  # (batch, heads, tokens, dim)
    assert not q.is_contiguous()
    mask = torch.zeros(2, 1, 9, 9)
    mask[0, ..., 6:] = torch.finfo(torch.float32).min
    grad = torch.randn(2, 4, 9, 8, dtype=torch.bfloat16)

    out = fastpath._Attention.apply(q, k, v, mask, 8**-0.5, 0.0)
    (ours,) = torch.autograd.grad(out, projected, grad)
    full = projected.detach().float().requires_grad_()
    fq, fk, fv = (full[:, :, i].transpose(1, 2) for i in range(3))
    (expected,) = torch.autograd.grad(_reference_attention(fq, fk, fv, mask, 8**-0.5), full, grad.float())

    assert out.dtype == ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), expected, atol=0.03, rtol=0.02)
    assert not ours[0, 6:, 1:].any()  # masked tokens: no gradient for their keys and values
    assert ours[0, 6:, 0].any()  # their queries still attend


def _bert(tiny_model_dir: Path, **dropouts: float) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, attn_implementation="eager", **dropouts
    ).train()


def test_enable_gives_the_same_loss_and_gradients_as_eager_attention(tiny_model_dir: Path) -> None:
    reference = _bert(tiny_model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)

    assert fastpath.enable(fast) == [
        "dropout",
        "layer norm",
        "embedding gradient",
        "last layer at the first token",
        "attention",
    ]
    assert fast.config._attn_implementation == fastpath.ATTENTION
    input_ids = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]])
    attention_mask = (input_ids != 0).long()
    labels = torch.tensor([0, 1])
    for model in (reference, fast):
        model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()

    for (name, a), (_, b) in zip(reference.named_parameters(), fast.named_parameters(), strict=True):
        if name.endswith("key.bias"):  # its true gradient is 0 (softmax ignores a per-row shift): noise
            continue
        torch.testing.assert_close(b.grad, a.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_the_kept_embedding_gradient_equals_a_fresh_one_step_after_step(tiny_model_dir: Path) -> None:
    reference = _bert(tiny_model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)
    fastpath.enable(fast)
    # Step 1 writes rows 10-13, step 2 rows 14-16 (twice: accumulated), then both without zeroing.
    # Row 0 is BERT's padding row: no gradient, as nn.Embedding's.
    batches = [
        [torch.tensor([[2, 10, 11, 12, 13, 3]])],
        [torch.tensor([[2, 14, 15, 3, 0, 0]]), torch.tensor([[2, 16, 3, 0, 0, 0]])],
    ]
    name = "bert.embeddings.word_embeddings.weight"
    for step in batches:
        for model in (reference, fast):
            model.zero_grad(set_to_none=True)
            for input_ids in step:
                model(input_ids=input_ids, labels=torch.tensor([1])).loss.backward()
        want = dict(reference.named_parameters())[name].grad
        got = dict(fast.named_parameters())[name].grad
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)
        assert torch.count_nonzero(got[10:14].abs().sum(dim=1)) == (4 if step is batches[0] else 0)
        assert not got[0].any()

    fastpath.disable(fast)
    assert type(fast.get_input_embeddings()) is torch.nn.Embedding
    assert "kept_gradient" not in vars(fast.get_input_embeddings())


def test_a_gradient_set_elsewhere_is_added_to_and_the_kept_one_stays_clean(tiny_model_dir: Path) -> None:
    reference = _bert(tiny_model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)
    fastpath.enable(fast)
    first, second = torch.tensor([[2, 10, 11, 3]]), torch.tensor([[2, 14, 15, 3]])
    for model in (reference, fast):
        model(input_ids=first, labels=torch.tensor([1])).loss.backward()  # kept gradient: rows 10, 11
        weight = model.get_input_embeddings().weight
        weight.grad = torch.ones_like(weight)  # set elsewhere, as a tied weight's would be
        model(input_ids=second, labels=torch.tensor([0])).loss.backward()
    for model in (reference, fast):
        assert model.get_input_embeddings().weight.grad[0].eq(1).all()  # untouched rows keep the 1
    torch.testing.assert_close(
        fast.get_input_embeddings().weight.grad, reference.get_input_embeddings().weight.grad
    )

    for model in (reference, fast):
        model.zero_grad(set_to_none=True)
        model(input_ids=second, labels=torch.tensor([0])).loss.backward()  # the kept one again

    got, want = fast.get_input_embeddings().weight.grad, reference.get_input_embeddings().weight.grad
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)
    assert not got[10:12].any()  # the rows the first step wrote into the kept gradient


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])  # clipped, and within the bound (untouched)
def test_clip_grad_norm_equals_torch_s_on_a_kept_embedding_gradient(
    tiny_model_dir: Path, max_norm: float
) -> None:
    reference = _bert(tiny_model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)
    fastpath.enable(fast)
    firsttoken.disable(fast)  # the same products as the reference's: gradients equal to the last bits
    for step in ([[2, 10, 11, 12, 3]], [[2, 14, 15, 14, 3]]):  # the second step zeroes rows 10-12
        for model in (reference, fast):
            model.zero_grad(set_to_none=True)
            model(input_ids=torch.tensor(step), labels=torch.tensor([1])).loss.backward()
        want = torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
        got = fastpath.clip_grad_norm(fast, max_norm)
        torch.testing.assert_close(got, want, atol=0, rtol=1e-6)
        for (name, ours), theirs in zip(fast.named_parameters(), reference.parameters(), strict=True):
            torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-9, rtol=1e-5, msg=name)
    grad = fast.get_input_embeddings().weight.grad
    assert grad is fast.get_input_embeddings().kept_gradient  # clipped in place, rows only
    assert grad.abs().sum(dim=1).nonzero().flatten().tolist() == [2, 3, 14, 15]  # not 10-12


def test_under_bf16_autocast_layer_norms_give_bf16_and_the_gradients_stay_close(tiny_model_dir: Path) -> None:
    reference = _bert(tiny_model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)
    fastpath.enable(fast)
    dtypes: list[torch.dtype] = []
    for module in fast.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.register_forward_hook(lambda _m, _i, output: dtypes.append(output.dtype))
    input_ids = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]])
    losses = []
    for model in (reference, fast):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(
                input_ids=input_ids, attention_mask=(input_ids != 0).long(), labels=torch.tensor([0, 1])
            ).loss
        loss.backward()
        losses.append(loss.item())

    assert dtypes
    assert set(dtypes) == {torch.bfloat16}
    assert losses[1] == pytest.approx(losses[0], abs=2e-2)
    for (name, a), (_, b) in zip(reference.named_parameters(), fast.named_parameters(), strict=True):
        assert b.grad is not None, name
        assert b.grad.dtype == torch.float32, name
        if not name.endswith("key.bias"):  # its true gradient is 0: noise
            cosine = torch.nn.functional.cosine_similarity(a.grad.flatten(), b.grad.flatten(), dim=0)
            assert cosine > 0.99, name
    fastpath.disable(fast)
    assert not any(isinstance(m, fastpath.Bf16LayerNorm) for m in fast.modules())
    assert sum(type(m) is torch.nn.LayerNorm for m in fast.modules()) == len(dtypes)  # one call each


def test_enable_swaps_every_dropout_and_disable_restores_the_attention(tiny_model_dir: Path) -> None:
    model = _bert(tiny_model_dir)
    count = sum(type(m) is torch.nn.Dropout for m in model.modules())

    fastpath.enable(model)

    assert count > 0
    assert sum(type(m) is torch.nn.Dropout for m in model.modules()) == 0
    assert sum(isinstance(m, fastpath.FastDropout) for m in model.modules()) == count
    fastpath.disable(model)
    assert model.config._attn_implementation == "eager"


def test_dropout_is_on_in_training_and_off_in_eval(tiny_model_dir: Path) -> None:
    model = _bert(tiny_model_dir, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    fastpath.enable(model)
    input_ids = torch.tensor([[2, 10, 11, 12, 13, 3]])

    first, second = (model(input_ids=input_ids).logits for _ in range(2))
    model.eval()
    third, fourth = (model(input_ids=input_ids).logits for _ in range(2))

    assert not torch.equal(first, second)
    assert torch.equal(third, fourth)


# ---------------------------------------------------------------- the training seam (textfit.accel.training)


def _tiny(architecture: str) -> torch.nn.Module:
    """A tiny classifier of that architecture without dropout (the fast path draws other masks)."""
    from transformers import AutoModelForSequenceClassification

    config = tiny_config(architecture)
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(config, key, 0.0)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config).train()


def _train_steps(model: torch.nn.Module, steps: int = 3) -> list[float]:
    """A few AdamW steps with gradient clipping as the Trainer does it; the loss of each step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    input_ids = torch.randint(5, 100, (4, 9), generator=torch.Generator().manual_seed(1))
    input_ids[1, 6:] = 0  # a padded text
    attention_mask = (input_ids != 0).long()
    labels = torch.tensor([0, 1, 2, 1])
    losses = []
    for _ in range(steps):  # the same batch: its loss falls
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        if clip_gradients(model, 0.5) is None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_training_on_the_fast_path_gives_the_same_losses_and_model(architecture: str) -> None:
    reference = _tiny(architecture)
    fast = copy.deepcopy(reference)
    restore = prepare_for_training(fast, cpu_fast_path=True, device_type="cpu")

    want, got = _train_steps(reference), _train_steps(fast)
    restore()

    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert want[-1] < want[0], "the steps trained"
    assert type(fast.get_input_embeddings()) is torch.nn.Embedding, "switched back"
    probe = torch.randint(5, 100, (3, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            fast.eval()(probe).logits, reference.eval()(probe).logits, atol=1e-4, rtol=1e-4
        )
    assert fast.state_dict().keys() == reference.state_dict().keys()


def test_prepare_for_training_switched_off_leaves_the_model_as_it_is(tiny_model_dir: Path) -> None:
    model = _bert(tiny_model_dir)
    before = [type(module) for module in model.modules()]

    restore = prepare_for_training(model, cpu_fast_path=False, device_type="cpu")

    assert [type(module) for module in model.modules()] == before
    assert model.config._attn_implementation == "eager"
    assert clip_gradients(model, 1.0) is None, "the Trainer's own clipping"
    restore()
    assert [type(module) for module in model.modules()] == before


def test_prepare_for_training_switches_on_and_restore_switches_back(tiny_model_dir: Path) -> None:
    model = _bert(tiny_model_dir)

    restore = prepare_for_training(model, cpu_fast_path=True, device_type="cpu")

    assert model.config._attn_implementation == fastpath.ATTENTION
    assert isinstance(model.get_input_embeddings(), fastpath.RowGradientEmbedding)
    restore()
    assert model.config._attn_implementation == "eager"
    assert type(model.get_input_embeddings()) is torch.nn.Embedding
    assert not any(type(module) is fastpath.Bf16LayerNorm for module in model.modules())
