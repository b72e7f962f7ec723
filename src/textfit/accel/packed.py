"""Prediction with BERT classifiers on a CPU: the batch's real tokens packed, no padding in the layers.

A BERT layer's linear layers, layer norms and activation work on each token alone; only attention
needs the tokens of a text side by side. `PackedBert` runs them on the batch's real tokens (a
(tokens, hidden) matrix, no padding rows) and scatters query, key and value into the padded layout
for attention alone. Besides the padding it saves, query, key and value come from one matrix
product, and attention's softmax runs in fp32 (in bf16 it is slower on a CPU, and less exact):
faster than the model's own forward with eager attention (benchmarks/RESULTS.md, section 4,
"BERT classifiers predicted on packed tokens"). The last layer runs at each text's [CLS] alone, as
`textfit.accel.firsttoken` makes it in training: keys and values for every token, the rest for [CLS]
(14% of MiniLM's products). The logits are those of the model's forward, up to rounding.

`Classifier.load` uses it for `BertForSequenceClassification` models on a CPU (the default MiniLM
among them); other architectures go through their own forward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from textfit.accel.prepack import linear

# The packed rows are rounded up to a multiple of this (the extra rows copy the first token and are
# dropped): batches then share oneDNN's kernels for their products, each of which it keeps in
# memory per shape, so peak memory drops (benchmarks/RESULTS.md, section 4, "Prediction memory").
ROWS_MULTIPLE = 32
# The same for the last layer's rows, one per text ([CLS] alone), for the same reason and source.
TEXTS_MULTIPLE = 16


def packable(model: nn.Module, padding_side: str = "right") -> bool:
    """Whether `PackedBert` computes this model's logits: a BERT encoder classifier on a CPU."""
    from transformers import BertForSequenceClassification

    if type(model) is not BertForSequenceClassification or padding_side != "right":
        return False  # with left padding BERT pools a padding token: the model's own forward
    config: Any = model.config
    bert: Any = model.bert
    layers: Any = bert.encoder.layer
    projections = [
        getattr(layer.attention.self, name) for layer in layers for name in ("query", "key", "value")
    ]
    return (
        bert.pooler is not None
        and not config.is_decoder
        and not getattr(config, "add_cross_attention", False)
        and all(projection.bias is not None for projection in projections)
        and next(model.parameters()).device.type == "cpu"
    )


class PackedBert:
    """The logits of a `BertForSequenceClassification` in eval mode, its tokens packed (see the module).

    Holds the query, key and value weights of each layer stacked into one matrix (a copy: 3 x
    hidden x hidden per layer, reordered once for oneDNN where it can: `textfit.accel.prepack.linear`);
    the model's other layers are called as they are. Build it after the
    model is in its prediction dtype, and again if its weights change.
    """

    def __init__(self, model: Any) -> None:
        """Stack each layer's query, key and value weights (the model's dtype and device)."""
        self.model = model
        self.heads = int(model.config.num_attention_heads)
        self.layers = []
        for layer in model.bert.encoder.layer:
            attention = layer.attention.self
            parts = (attention.query, attention.key, attention.value)
            weight = torch.cat([part.weight.detach() for part in parts])
            bias = torch.cat([part.bias.detach() for part in parts])
            self.layers.append((linear(weight, bias), layer))
        hidden = weight.shape[1]  # the last layer's query apart from its keys and values
        self.query = linear(weight[:hidden], bias[:hidden])
        self.key_value = linear(weight[hidden:], bias[hidden:])

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits, (texts, labels), of a right-padded batch."""
        bert = self.model.bert
        texts, length = input_ids.shape
        embedded = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        hidden = embedded.shape[-1]
        real = attention_mask.bool()
        where = real.reshape(-1).nonzero().squeeze(1)  # each real token's row in (texts x length)
        tokens = len(where)
        rows = -(-tokens // ROWS_MULTIPLE) * ROWS_MULTIPLE
        gather = torch.cat([where, where[:1].expand(rows - tokens)])
        x = embedded.reshape(texts * length, hidden).index_select(0, gather)
        padding = torch.zeros(texts, 1, 1, length, dtype=torch.float32, device=x.device)
        padding.masked_fill_(~real[:, None, None, :], torch.finfo(torch.float32).min)
        heads, size = self.heads, hidden // self.heads

        def split(projected: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
            """(tokens, parts x hidden) rows -> parts tensors (texts, heads, length, size), padded."""
            padded = projected.new_zeros(texts * length, parts * hidden).index_copy_(0, where, projected)
            return padded.view(texts, length, parts, heads, size).permute(2, 0, 3, 1, 4).unbind(0)

        def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
            scores = torch.matmul(query, key.transpose(-1, -2)).float().mul_(size**-0.5).add_(padding)
            probs = torch.softmax(scores, dim=-1).to(value.dtype)
            return torch.matmul(probs, value).transpose(1, 2)  # (texts, queries, heads, size)

        def rest(layer: Any, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
            output = layer.attention.output
            attended = output.LayerNorm(output.dense(context) + residual)
            inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(attended))
            return layer.output.LayerNorm(layer.output.dense(inner) + attended)  # type: ignore[no-any-return]

        *body, (_, last) = self.layers
        for query_key_value, layer in body:
            projected = query_key_value(x)
            context = attend(*split(projected[:tokens], 3)).reshape(texts * length, hidden)
            x = rest(layer, context.index_select(0, gather), x)
        # The last layer at each text's [CLS] alone: the pooler reads nothing else (textfit.accel.firsttoken).
        lengths = real.sum(dim=1)
        starts = torch.cumsum(lengths, 0) - lengths
        rounded = -(-texts // TEXTS_MULTIPLE) * TEXTS_MULTIPLE  # extra rows copy the first text's
        first = x.index_select(0, torch.cat([starts, starts[:1].expand(rounded - texts)]))
        key, value = split(self.key_value(x)[:tokens], 2)
        query = self.query(first)[:texts].view(texts, heads, 1, size)
        context = attend(query, key, value).reshape(texts, hidden)
        context = torch.cat([context, context[:1].expand(rounded - texts, hidden)])
        first = rest(last, context, first)
        logits = self.model.classifier(bert.pooler.activation(bert.pooler.dense(first)))
        return logits[:texts]  # type: ignore[no-any-return]
