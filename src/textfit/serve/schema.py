"""What the service takes and gives: requests and answers, and the refusal of a request.

The pydantic models are the API's schema (/docs); `request_texts` checks a request against the
limits (`ServeSettings`) and `ServeError` carries a refusal's HTTP status, message and hint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """One text (`text`) or a batch (`texts`); pair models take `text_pair` / `text_pairs` too."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(None, description="One text to classify.")
    texts: list[str] | None = Field(None, description="Several texts to classify.")
    text_pair: str | None = Field(None, description="The second text of `text` (pair models).")
    text_pairs: list[str] | None = Field(None, description="The second texts of `texts` (pair models).")
    top_k: int = Field(3, ge=1, le=1000, description="How many labels to give per text, best first.")


class LabelScore(BaseModel):
    """A label and its probability."""

    label: str
    probability: float


class PredictionOut(BaseModel):
    """The predicted label of one text, its probability, and the top_k labels."""

    label: str
    probability: float
    top_k: list[LabelScore]


class PredictResponse(BaseModel):
    """One prediction per text, in the order of the request."""

    predictions: list[PredictionOut]


class ServeError(Exception):
    """A request the service refuses: HTTP status, message and hint (sent as JSON)."""

    def __init__(self, status: int, error: str, hint: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.hint = status, error, hint


def request_texts(
    request: PredictRequest, pair_model: bool, max_texts: int, max_chars: int
) -> tuple[list[str], list[str] | None]:
    """The texts (and pairs) of a request: at most max_texts, of at most max_chars (ServeError otherwise)."""
    if (request.text is None) == (request.texts is None):
        raise ServeError(
            422, "give either 'text' or 'texts'", hint='{"text": "..."} or {"texts": ["...", "..."]}'
        )
    single = request.texts is None
    texts = [request.text or ""] if single else list(request.texts or [])
    given_pairs = request.text_pair if single else request.text_pairs
    other = "text_pair" if single else "text_pairs"
    if len(texts) > max_texts:
        raise ServeError(
            413,
            f"{len(texts)} texts in one request; the most is {max_texts}",
            hint=f"send the texts in requests of at most {max_texts}",
        )
    if given_pairs is None and pair_model:
        raise ServeError(422, f"this model reads text pairs: give '{other}' too", hint=f"{other} as well")
    if given_pairs is not None and not pair_model:
        raise ServeError(422, f"this model reads single texts: leave out '{other}'")
    pairs = None if given_pairs is None else [given_pairs] if isinstance(given_pairs, str) else given_pairs
    if pairs is not None and len(pairs) != len(texts):
        raise ServeError(
            422, f"{len(texts)} texts but {len(pairs)} text pairs", hint="give one pair per text"
        )
    for name, values in (("text", texts), ("text pair", pairs or [])):
        for index, value in enumerate(values):
            where = f"{name}" if single else f"{name} {index}"
            if not value.strip():  # the rule of predict.check_texts: no made-up label
                raise ServeError(
                    422, f"{where} is empty", hint="send texts with at least one visible character"
                )
            if len(value) > max_chars:
                raise ServeError(
                    413,
                    f"{where} has {len(value):,} characters; the most is {max_chars:,}",
                    hint="send a shorter text (the model reads only its first few hundred tokens)",
                )
    return texts, pairs


def prediction_response(
    probabilities: NDArray[np.float32], labels: Sequence[str], top_k: int
) -> PredictResponse:
    """The answer to a request: each text's label, probability and top_k labels, best first."""
    top_k = min(top_k, len(labels))
    out = []
    for row in probabilities:
        ranked = np.argsort(-row, kind="stable")[:top_k]
        top = [LabelScore(label=labels[i], probability=float(row[i])) for i in ranked]
        out.append(PredictionOut(label=top[0].label, probability=top[0].probability, top_k=top))
    return PredictResponse(predictions=out)
