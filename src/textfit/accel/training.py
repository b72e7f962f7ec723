"""The training side of the CPU fast path: switch a model to it for training, and clip its gradients.

Training calls these two functions and nothing else of textfit.accel.fastpath.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from textfit.accel import fastpath

logger = logging.getLogger(__name__)


def _keep() -> None:
    """Nothing to undo: the model was left as it was."""


def prepare_for_training(model: Any, *, cpu_fast_path: bool, device_type: str) -> Callable[[], None]:
    """Switch the model to the CPU fast path (train.cpu_fast_path) when it trains on the CPU.

    The fast path changes dropout, layer norms, the word-embedding gradient, the last layer and the
    attention (see textfit.accel.fastpath); the weights and the saved model stay the same.

    Args:
        model: a sequence-classification model about to be trained.
        cpu_fast_path: the setting; on a GPU the model is left as it is either way.
        device_type: where the model trains (the Trainer's args.device.type).

    Returns:
        A function that switches the model back (before it is evaluated and saved).
    """
    if not cpu_fast_path or device_type != "cpu":
        return _keep
    switched = fastpath.enable(model)
    logger.info("CPU fast path for %s (train.cpu_fast_path)", ", ".join(switched) or "nothing")

    def restore() -> None:
        fastpath.disable(model)

    return restore


def clip_gradients(model: Any, max_norm: float) -> torch.Tensor | None:
    """Clip the gradients of a model on the fast path, reading only the embedding rows a step wrote.

    The kept word-embedding gradient of the fast path is zero outside those rows: its norm and its
    scaling need only them. For one process without fp16 loss scaling (the caller checks).

    Returns:
        The total norm before clipping, as torch.nn.utils.clip_grad_norm_ gives it; None where the
        model is not on the fast path (or comes wrapped, by DDP or DataParallel): clip as usual then.
    """
    embeddings = getattr(model, "get_input_embeddings", None)  # a wrapper has none
    if embeddings is None or not isinstance(embeddings(), fastpath.RowGradientEmbedding):
        return None
    return fastpath.clip_grad_norm(model, max_norm)
