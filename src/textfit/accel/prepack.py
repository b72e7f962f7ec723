"""Linear layers for prediction on a CPU, their weights reordered once into oneDNN's layout.

On a CPU, torch's linear reorders its weight into oneDNN's blocked layout (bf16) or packs it for
MKL (fp32) in every call. A model that only predicts can keep its weights in that layout: reordered
once at load, its products run faster (benchmarks/RESULTS.md, section 4, "every linear layer's
weight reordered once"). `prepack_linears(model)` swaps a model's `nn.Linear` modules
for `PrepackedLinear`; `linear(weight, bias)` gives one such product for weights outside a module.

The reordered weights are opaque oneDNN tensors: no gradients, no `deepcopy`, no `state_dict`
worth saving. Only for a model loaded to predict, never one that trains or is saved again. Where
this torch has no oneDNN, or the product differs from torch's own, the plain linear is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

Product = Callable[[torch.Tensor], torch.Tensor]
_DTYPES = (torch.float32, torch.bfloat16)


class PrepackedLinear(nn.Module):
    """`nn.Linear`'s product on a CPU with its weight in oneDNN's layout (build with `linear`)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """Reorder the weight (out_features, in_features) once; bias as it is."""
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.dtype = weight.dtype
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
        self.bias = None if bias is None else bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The product of x (..., in_features): (..., out_features) in the weight's dtype.

        x is cast to that dtype first, as autocast would.
        """
        product: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
            x.to(self.dtype), self.packed, self.bias, "none", [], ""
        )
        return product

    def extra_repr(self) -> str:
        """What print(model) shows of the layer."""
        return f"in_features={self.in_features}, out_features={self.out_features}, {self.dtype}, prepacked"


def linear(weight: torch.Tensor, bias: torch.Tensor | None) -> Product:
    """The product x -> x @ weight.T + bias: prepacked where that works on this CPU, else torch's linear.

    Either way x is cast to the weight's dtype first, as autocast would.
    """
    weight, bias = weight.detach(), None if bias is None else bias.detach()
    if weight.device.type != "cpu" or weight.dtype not in _DTYPES or not _works(weight.dtype):
        return functools.partial(_plain_linear, weight=weight, bias=bias)
    return PrepackedLinear(weight, bias)


def _plain_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Torch's linear, x cast to the weight's dtype first as PrepackedLinear casts it."""
    return nn.functional.linear(x.to(weight.dtype), weight, bias)


@functools.cache
def _works(dtype: torch.dtype) -> bool:
    """Whether this torch's oneDNN computes a prepacked product in dtype as torch's linear does."""
    try:
        if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
            return False
        if dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        generator = torch.Generator().manual_seed(0)
        weight, bias, x = (
            torch.randn(shape, generator=generator).to(dtype) for shape in ((24, 32), (24,), (5, 32))
        )
        expected = nn.functional.linear(x, weight, bias).float()
        got = PrepackedLinear(weight, bias)(x).float()
    except (AttributeError, RuntimeError, NotImplementedError):  # a build without these operators
        return False
    return bool(torch.allclose(got, expected, rtol=2e-2, atol=2e-2))


def prepack_linears(model: nn.Module) -> int:
    """Swap the model's `nn.Linear` modules on a CPU for `PrepackedLinear`; returns how many.

    The model then predicts only (see the module): call it on a model loaded to predict, in its
    prediction dtype.
    """
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                product = linear(child.weight, child.bias)
                if isinstance(product, PrepackedLinear):
                    setattr(parent, name, product)
                    swapped += 1
    return swapped
