"""The cheap default: out-of-fold probabilities of a logistic regression on a frozen encoder's embeddings.

Each row's embedding is the mean of the encoder's last hidden states over its tokens (the attention
mask), computed once, without gradients, in the precision training would use; the regression is
fitted k times (scikit-learn's `cross_val_predict`), each time predicting the fold it did not see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from textfit.config.schema import RunConfig
from textfit.data.examples import Examples
from textfit.devices import pick_device
from textfit.modeling import batch_tokens, load_pretrained, pick_precision

logger = logging.getLogger(__name__)

MAX_ITER = 2000  # of the logistic regression (lbfgs), on standardised embeddings


def embedding_probabilities(
    cfg: RunConfig, examples: Examples, labels: NDArray[np.int64], folds: int, seed: int
) -> NDArray[np.float64]:
    """Out-of-fold class probabilities, shape (rows, classes), from cfg.model's frozen encoder.

    Args:
        cfg: the model (name, max_length, loading settings) and train.device / train.precision.
        examples: the rows.
        labels: each row's class (0 .. classes - 1, every class present).
        folds: k of the stratified split.
        seed: the seed of the split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = embed(cfg, examples)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    probabilities = cross_val_predict(classifier, features, labels, cv=split, method="predict_proba")
    return np.asarray(probabilities, dtype=np.float64)


def embed(cfg: RunConfig, examples: Examples) -> NDArray[np.float32]:
    """The mean-pooled last hidden state of each example (and its second text), shape (rows, hidden)."""
    import torch

    device = pick_device(cfg.train.device)
    precision = pick_precision(cfg.train.precision, device)
    tokenizer, model = load_pretrained(cfg.model, {0: "0", 1: "1"}, {"0": 0, "1": 1})
    encoder = model.base_model.to(device).eval()
    encoded = tokenizer(examples.texts, examples.text_pairs, truncation=True, max_length=cfg.model.max_length)
    ids: list[list[int]] = encoded["input_ids"]
    logger.info("label errors: embedding %s texts with %s (%s)", f"{len(ids):,}", cfg.model.name, precision)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    features = np.zeros((len(ids), encoder.config.hidden_size), dtype=np.float32)
    with (
        torch.inference_mode(),
        torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None),
    ):
        for batch in _batches([len(row) for row in ids], batch_tokens(device)):
            inputs = tokenizer.pad(
                {key: [encoded[key][i] for i in batch] for key in encoded}, return_tensors="pt"
            )
            inputs = {key: value.to(device) for key, value in inputs.items()}
            hidden = encoder(**inputs).last_hidden_state.float()  # (batch, seq_len, hidden)
            mask = inputs["attention_mask"].unsqueeze(-1).float()  # (batch, seq_len, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            features[batch] = pooled.cpu().numpy()
    return features


def _batches(lengths: list[int], tokens: int) -> Iterator[list[int]]:
    """Indices in order of length, cut into batches of at most `tokens` padded tokens (64 rows at most)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    batch: list[int] = []
    for index in order.tolist():
        if len(batch) == 64 or (batch and (len(batch) + 1) * lengths[index] > tokens):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch
