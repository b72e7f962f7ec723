"""Training on a CPU: cheaper dropout masks, and attention that keeps 3 bytes per attention score.

Besides the matrix products, two costs dominate a CPU training step (benchmarks/RESULTS.md, sections
3 and 4, "What each lever bought (training)"):

- torch draws one random number per element for a dropout mask (`bernoulli_`). `keep_mask` draws
  64-bit random words and reads four 16-bit draws out of each: the same Bernoulli distribution,
  with p rounded to a multiple of 1/65,536, from a quarter of the draws.
- With attention dropout, SDPA falls back to its math kernel on a CPU, which keeps the scores, the
  fp32 probabilities and the mask of every layer: gigabytes for a batch of long texts.
  `attention` keeps the bf16 probabilities and a bool mask, and recomputes the rest backwards.

`enable(model)` switches a model to both for training, its layer norms to bf16 outputs under
autocast (`Bf16LayerNorm`) and its word embeddings to a gradient kept across steps
(`RowGradientEmbedding`); `disable(model)` switches the attention, layer norms and embeddings back.
The weights and the saved model are not touched, and on a GPU none of this is used.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from textfit.accel import firsttoken

ATTENTION = "textfit_cpu"  # the name registered with transformers' attention interface
_DRAWS_PER_WORD = 4  # 16-bit draws read out of each 64-bit random word


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device | None = None
) -> torch.Tensor:
    """A bool mask, True with probability 1 - p (p rounded to a multiple of 1/65,536)."""
    n = math.prod(shape)
    words = torch.empty(-(-n // _DRAWS_PER_WORD), dtype=torch.int64, device=device)
    words.random_(-(2**63), None)  # the full 64-bit range: four uniform 16-bit draws per word
    draws = words.view(torch.int16)[:n].view(shape)
    return draws >= -(2**15) + round(p * 2**16)


def _masked(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """The product x * keep * scale, the bool mask read as uint8.

    A product with a bool tensor first copies the mask into x's dtype: slower on a CPU
    (benchmarks/RESULTS.md, section 4).
    """
    return x.mul(keep.view(torch.uint8)).mul_(scale)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p, x.device)
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return _masked(x, keep, ctx.scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (keep,) = ctx.saved_tensors
        return _masked(grad, keep, ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout, as torch.nn.functional.dropout, with masks from `keep_mask`."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return _Dropout.apply(x, p)  # type: ignore[no-untyped-call,no-any-return]


class FastDropout(nn.Dropout):
    """nn.Dropout whose masks come from `keep_mask` (no parameters: a saved model is unchanged)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Dropout in training mode; the input unchanged in eval mode."""
        return dropout(input, self.p, self.training)


class Bf16LayerNorm(nn.LayerNorm):
    """nn.LayerNorm that, under CPU bf16 autocast, returns bf16 (computed in fp32 inside the kernel).

    Autocast runs layer norms in fp32 and returns fp32, so each linear layer after one casts the
    same activations to bf16 again (query, key and value: three times), and backwards casts each
    gradient back; bf16 outputs save those copies (benchmarks/RESULTS.md, section 4). With bf16
    outputs the residual stream is bf16 too; the weights, their gradients and the statistics of the
    norm stay fp32. No parameters of its own: a saved model is unchanged.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Layer norm; bf16 in and out under CPU bf16 autocast."""
        if not (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16):
            return super().forward(input)
        with torch.autocast("cpu", enabled=False):
            return nn.functional.layer_norm(
                input.to(torch.bfloat16), self.normalized_shape, self.weight, self.bias, self.eps
            )


class _RowGradient(torch.autograd.Function):
    """An embedding lookup whose backward adds into the rows of a gradient kept from step to step."""

    @staticmethod
    def forward(
        ctx: Any, ids: torch.Tensor, weight: torch.Tensor, module: RowGradientEmbedding
    ) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.module = module
        return nn.functional.embedding(ids, weight, module.padding_idx)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, None]:
        (ids,) = ctx.saved_tensors
        module: RowGradientEmbedding = ctx.module
        rows, grad = ids.reshape(-1), grad.reshape(-1, grad.shape[-1]).to(module.weight.dtype)
        if module.padding_idx is not None:  # as nn.Embedding: the padding row gets no gradient
            keep = rows != module.padding_idx
            rows, grad = rows[keep], grad[keep]
        weight = module.weight
        if weight.grad is None:  # a new step: the kept gradient, zero again where the last one wrote
            kept = module.kept_gradient
            if kept is None or kept.shape != weight.shape:
                kept = module.kept_gradient = torch.zeros_like(weight)
            elif module.written is not None:
                kept.index_fill_(0, module.written, 0.0)
            weight.grad = kept
            module.written = rows
        elif weight.grad is module.kept_gradient and module.written is not None:  # accumulating
            module.written = torch.cat([module.written, rows])
        # else: a gradient set elsewhere (a tied weight's, say): add to it; `written` stays that of
        # the kept gradient, which is zeroed where it says when next used.
        weight.grad.index_add_(0, rows, grad)
        return None, None, None


class RowGradientEmbedding(nn.Embedding):
    """nn.Embedding whose weight gradient is one tensor kept across steps, zeroed only where written.

    nn.Embedding's backward builds a fresh zero gradient of the whole matrix in every step (MiniLM:
    30,522 x 384 floats; its cost: benchmarks/RESULTS.md, section 4) and adds the batch's rows to it.
    Here the gradient is the same dense tensor each step: the rows the last step wrote are zeroed
    and this step's rows added, so the optimizer and clipping see the same dense gradient as
    before. One process only: with several, the gradient must go through autograd for the
    all-reduce, and the lookup is nn.Embedding's. No parameters of its own.
    """

    kept_gradient: torch.Tensor | None = None
    written: torch.Tensor | None = None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """The lookup; in training with a gradient, through _RowGradient."""
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not (self.training and self.weight.requires_grad and torch.is_grad_enabled()) or distributed:
            return super().forward(input)
        return _RowGradient.apply(input, self.weight, self)  # type: ignore[no-untyped-call,no-any-return]


def clip_grad_norm(model: nn.Module, max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ over a model's gradients, reading only written rows of a kept one.

    A `RowGradientEmbedding`'s kept gradient is zero outside the rows the step wrote, so its norm
    and its scaling need only those rows, not the whole matrix (MiniLM: 30,522 x 384, half the
    weights). No gradient is scaled when the norm is within max_norm (torch multiplies by 1.0
    then). The same total norm up to rounding, and the same clipped gradients.

    Returns:
        The total norm of the gradients before clipping, as torch's.
    """
    written = {
        id(module.weight): torch.unique(module.written)
        for module in model.modules()
        if isinstance(module, RowGradientEmbedding)
        and module.written is not None
        and module.weight.grad is module.kept_gradient
    }
    grads = [
        (parameter.grad, written.get(id(parameter)))
        for parameter in model.parameters()
        if parameter.grad is not None
    ]
    if not grads:
        return torch.tensor(0.0)
    parts = [grad if rows is None else grad.index_select(0, rows) for grad, rows in grads]
    total: torch.Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(parts)))
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # as torch computes it
    if coefficient.item() != 1.0:  # a NaN norm scales everything too, as in torch
        torch._foreach_mul_([grad for grad, rows in grads if rows is None], coefficient)
        for (grad, rows), part in zip(grads, parts, strict=True):
            if rows is not None:
                grad.index_copy_(0, rows, part.mul_(coefficient))
    return total


def _dropped(probs: torch.Tensor, keep: torch.Tensor | None, scale: float) -> torch.Tensor:
    return _masked(probs, keep, scale) if keep is not None else probs


class _Attention(torch.autograd.Function):
    """softmax(q k^T * scaling + mask) with dropout, times v; saves bf16 probabilities and the mask.

    Query, key and value arrive as views across heads (batch, heads, tokens, dim of a (batch,
    tokens, heads x dim) tensor); each batched product would copy such a view again, so they are
    made contiguous once and kept so for backward (the views' storage is not kept instead).
    """

    @staticmethod
    def forward(
        ctx: Any,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None,
        scaling: float,
        p: float,
    ) -> torch.Tensor:
        dtype = value.dtype
        ctx.dtypes = query.dtype, key.dtype
        query, key = query.to(dtype).contiguous(), key.to(dtype).contiguous()
        value = value.contiguous()
        scores = torch.matmul(query, key.transpose(-1, -2)).float().mul_(scaling)
        if mask is not None:
            scores += mask
        probs = torch.softmax(scores, dim=-1).to(dtype)
        del scores
        keep = keep_mask(probs.shape, p, probs.device) if p > 0.0 else None
        ctx.scale = 1.0 / (1.0 - p)
        ctx.scaling = scaling
        ctx.save_for_backward(query, key, value, probs, keep)
        return torch.matmul(_dropped(probs, keep, ctx.scale), value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        query, key, value, probs, keep = ctx.saved_tensors
        dtype = value.dtype
        grad = grad.to(dtype).contiguous()  # used by two products
        grad_value = torch.matmul(_dropped(probs, keep, ctx.scale).transpose(-1, -2), grad)
        grad_probs = torch.matmul(grad, value.transpose(-1, -2)).float()
        if keep is not None:
            grad_probs = _masked(grad_probs, keep, ctx.scale)
        # softmax backward, d scores = p * (d p - sum(d p * p)), in fp32 in one kernel
        grad_scores = torch._softmax_backward_data(grad_probs, probs.float(), -1, torch.float32)
        grad_scores = grad_scores.mul_(ctx.scaling).to(dtype)
        grad_query = torch.matmul(grad_scores, key).to(ctx.dtypes[0])
        grad_key = torch.matmul(grad_scores.transpose(-1, -2), query).to(ctx.dtypes[1])
        return grad_query, grad_key, grad_value, None, None, None


def attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An attention function for transformers' AttentionInterface (query etc.: batch, heads, tokens, dim)."""
    scale = query.size(-1) ** -0.5 if scaling is None else scaling
    mask = attention_mask[..., : key.shape[-2]] if attention_mask is not None else None
    output = _Attention.apply(  # type: ignore[no-untyped-call]
        query, key, value, mask, scale, dropout if module.training else 0.0
    )
    return output.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)  # an additive float mask, as eager's


def enable(model: Any) -> list[str]:
    """Switch a model's dropout, and its attention where it supports the switch, to the CPU fast path.

    Returns:
        What was switched, for the log ("dropout", "layer norm", "embedding gradient", "last layer
        at the first token", "attention").
    """
    dropouts = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Dropout
    ]
    for parent, name, child in dropouts:
        setattr(parent, name, FastDropout(child.p, child.inplace))
    switched = ["dropout"] if dropouts else []
    norms = [module for module in model.modules() if type(module) is nn.LayerNorm]
    for module in norms:
        module.__class__ = Bf16LayerNorm  # the same parameters and state dict
    switched += ["layer norm"] if norms else []
    embedding = model.get_input_embeddings()
    plain = embedding.max_norm is None and not (embedding.sparse or embedding.scale_grad_by_freq)
    if type(embedding) is nn.Embedding and plain:
        embedding.__class__ = RowGradientEmbedding
        switched.append("embedding gradient")
    if firsttoken.enable(model):
        switched.append("last layer at the first token")
    _register()
    previous = model.config._attn_implementation
    try:
        model.set_attn_implementation(ATTENTION)
    except (ValueError, AttributeError, NotImplementedError):  # a model that picks its own attention
        return switched
    model._textfit_previous_attention = previous
    return [*switched, "attention"]


def disable(model: Any) -> None:
    """Switch a model's attention, layer norms, embeddings and last layer back.

    FastDropout stays: it does nothing in eval.
    """
    for module in model.modules():
        if type(module) is Bf16LayerNorm:
            module.__class__ = nn.LayerNorm  # type: ignore[assignment]
        elif type(module) is RowGradientEmbedding:
            vars(module).pop("kept_gradient", None)  # the gradient it kept, and the rows written
            vars(module).pop("written", None)
            module.__class__ = nn.Embedding  # type: ignore[assignment]
    firsttoken.disable(model)
    previous = getattr(model, "_textfit_previous_attention", None)
    if previous is not None:
        model.set_attn_implementation(previous)
        del model._textfit_previous_attention
