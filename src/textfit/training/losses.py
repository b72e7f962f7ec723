"""The training loss for imbalanced classes: per-class weights and focal loss, given to the Trainer.

The Trainer takes the loss as `compute_loss_func(outputs, labels, num_items_in_batch)`, so no subclass.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from textfit.errors import ConfigError


def class_weights(
    setting: str | Mapping[str, float], names: Sequence[str], label_ids: Sequence[int]
) -> list[float] | None:
    """The loss weight of each class, in id order; None for no weights.

    Args:
        setting: "none"; "balanced" (n_rows / (n_classes * rows of the class), as scikit-learn's
            class_weight="balanced": the weights of the training rows average 1); or a mapping
            label -> weight (labels left out weigh 1).
        names: the label names, in id order.
        label_ids: the label id of each training row.

    Raises:
        ConfigError: the mapping names a label the training data does not have.
    """
    if setting == "none":
        return None
    if setting == "balanced":
        counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=len(names))
        weights = len(label_ids) / (len(names) * np.maximum(counts, 1))
        return [round(float(weight), 6) for weight in weights]
    if isinstance(setting, str):  # the config admits no other string; a bug if reached
        raise ValueError(f"unknown class_weights {setting!r}")
    unknown = [name for name in setting if name not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(names), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"train.class_weights names {', '.join(repr(name) for name in unknown)}, not a label of the "
            f"training data{suggestion}. Labels: {', '.join(repr(name) for name in names)}",
            hint="name the labels as they are written in the label column, e.g. --class-weights spam=5",
        )
    return [float(setting.get(name, 1.0)) for name in names]


def loss_function(
    weights: Sequence[float] | None, loss: str = "cross_entropy", gamma: float = 2.0
) -> Callable[..., Any] | None:
    """The Trainer's compute_loss_func for weighted cross-entropy or focal loss; None for the model's own.

    Focal loss (Lin et al. 2017) scales each row's cross-entropy by (1 - p_true) ** gamma, so rows the
    model already gets right count less; with weights, each row's loss is also times its class weight.
    The sum over rows is divided by `num_items_in_batch` (the rows of all accumulated batches) where
    the Trainer gives it, else by the rows of the batch: weights move the balance between classes,
    not the scale of the loss (balanced weights average 1 over the training rows).
    """
    if weights is None and loss == "cross_entropy":
        return None

    def compute_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        log_probabilities = torch.log_softmax(logits.float(), dim=-1)  # (batch, classes)
        true_log_p = log_probabilities.gather(-1, labels.view(-1, 1)).squeeze(-1)  # (batch,)
        per_row = -true_log_p
        if loss == "focal":
            per_row = per_row * (1.0 - true_log_p.exp()).pow(gamma)
        if weights is not None:
            per_row = per_row * torch.tensor(weights, device=logits.device)[labels]
        count = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        if isinstance(count, torch.Tensor):
            count = count.to(per_row.device)
        return per_row.sum() / count

    return compute_loss


def distillation_loss(temperature: float, alpha: float) -> Callable[..., Any]:
    """The Trainer's compute_loss_func for distillation (Hinton et al. 2015), with hard labels mixed in.

    Training labels are rows of classes + 1 floats: the teacher's probabilities softened at the
    temperature (softmax(teacher logits / T), see `textfit.training.distill.soften`), then the row's
    label id, or -1 where the row has no label. Each row's loss is T^2 * KL(teacher || softmax(student
    logits / T)) (T^2 keeps the gradients' scale as T changes); a row with a label adds alpha times its
    cross-entropy at T = 1 and keeps 1 - alpha of the KL. Validation labels are label ids: plain
    cross-entropy, so that the validation loss is the one `train` reports. The sum over rows is
    divided by the rows of all accumulated batches (`num_items_in_batch` counts every float of the
    rows) or of the batch.
    """

    def compute_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits.float()  # (batch, classes)
        if labels.dim() == 1:  # validation: label ids
            per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
            count = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        else:
            teacher, label_ids = labels[:, :-1].float(), labels[:, -1].long()  # (batch, classes), (batch,)
            student = torch.log_softmax(logits / temperature, dim=-1)
            kl = (teacher * (teacher.clamp_min(1e-12).log() - student)).sum(-1) * temperature**2
            labelled = label_ids >= 0
            hard = torch.nn.functional.cross_entropy(logits, label_ids.clamp_min(0), reduction="none")
            per_row = torch.where(labelled, (1.0 - alpha) * kl + alpha * hard, kl)
            count = labels.shape[0] if num_items_in_batch is None else num_items_in_batch // labels.shape[1]
        if isinstance(count, torch.Tensor):
            count = count.to(per_row.device)
        return per_row.sum() / count

    return compute_loss
