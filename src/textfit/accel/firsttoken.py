"""The last encoder layer computed for the first token only: what the classifier reads, and no more.

BERT's classifier reads the pooler's output, which reads the last layer's output at the first
token ([CLS]); the RoBERTa family's classification head reads the same position. In the last
layer, the other positions' outputs go nowhere: only their keys and values are needed, for the
first token's attention. `enable(model)` makes that layer compute keys and values for every token
and the query, attention output, feed-forward block and layer norms for the first token alone. Of
MiniLM's 6 layers, the products skipped are 5/6 of the last layer's: 14% of the encoder's matrix
products, forward and backward, for the same logits and gradients (tests/test_firsttoken.py).

The model's `last_hidden_state` then has one position, (batch, 1, hidden): textfit reads only the
logits. `disable(model)` switches the layer back; the weights and the saved model are not touched.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

# The classifiers whose logits depend on the last layer's first position alone (their heads read
# features[:, 0]; BERT's through its pooler), and whose layers are BERT's (query / key / value,
# attention output, intermediate, output).
_CLASSIFIERS = {
    "BertForSequenceClassification": "BertLayer",
    "RobertaForSequenceClassification": "RobertaLayer",
    "XLMRobertaForSequenceClassification": "XLMRobertaLayer",
    "CamembertForSequenceClassification": "CamembertLayer",
    "ElectraForSequenceClassification": "ElectraLayer",
}
# The attention functions known to take one query against every key with a (batch, 1, 1, keys)
# additive mask; under another (flash kernels, whose masks are lengths), the layer runs whole.
_ATTENTIONS = ("eager", "sdpa", "textfit_cpu")
_SWAPPED: dict[type, type] = {}  # a layer class -> its first-token subclass


def _last_layer(model: Any) -> Any:
    """The model's last encoder layer where `enable` applies to it, else None."""
    layer_class = _CLASSIFIERS.get(type(model).__name__)
    config = model.config
    if layer_class is None or config.is_decoder or getattr(config, "add_cross_attention", False):
        return None
    base = model.base_model
    if type(model).__name__ == "BertForSequenceClassification" and base.pooler is None:
        return None
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not layers:
        return None
    last = layers[-1]
    return last if type(last).__name__ in (layer_class, f"FirstToken{layer_class}") else None


def _first_token_forward(
    self: Any,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *args: Any,
    **kwargs: Any,
) -> torch.Tensor:
    """The layer's output at the first position, (batch, 1, hidden), from every token's keys and values."""
    attention = self.attention.self
    if attention.config._attn_implementation not in _ATTENTIONS:  # flash kernels and the like: whole
        base: Any = type(self).__bases__[0]
        return base.forward(self, hidden_states, attention_mask, *args, **kwargs)[:, :1]  # type: ignore[no-any-return]
    batch, length, _ = hidden_states.shape
    size = attention.attention_head_size
    first = hidden_states[:, :1]
    query = attention.query(first).view(batch, 1, -1, size).transpose(1, 2)
    key = attention.key(hidden_states).view(batch, length, -1, size).transpose(1, 2)
    value = attention.value(hidden_states).view(batch, length, -1, size).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] > 1:
        attention_mask = attention_mask[:, :, :1]  # the first query's row of a (batch, 1, q, k) mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    eager = sys.modules[type(attention).__module__].eager_attention_forward  # the model's own
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager)
    context, _ = interface(
        attention,
        query,
        key,
        value,
        attention_mask,
        dropout=attention.dropout.p if attention.training else 0.0,
        scaling=attention.scaling,
    )
    attended = self.attention.output(context.reshape(batch, 1, -1), first)
    return self.feed_forward_chunk(attended)  # type: ignore[no-any-return]


def enable(model: Any) -> bool:
    """Make the model's last layer compute its first position only, where its classifier allows.

    Returns:
        Whether the layer was switched (False for other architectures, decoders, BERT without pooler).
    """
    last = _last_layer(model)
    if last is None:
        return False
    layer_class = type(last)
    if layer_class not in _SWAPPED.values():
        if layer_class not in _SWAPPED:
            _SWAPPED[layer_class] = type(
                f"FirstToken{layer_class.__name__}",
                (layer_class,),
                {"forward": _first_token_forward, "__doc__": "The layer at the first position only."},
            )
        last.__class__ = _SWAPPED[layer_class]  # the same parameters and state dict
    return True


def disable(model: nn.Module) -> None:
    """Switch a layer `enable` switched back to the whole sequence."""
    for module in model.modules():
        if type(module) in _SWAPPED.values():
            module.__class__ = type(module).__bases__[0]
