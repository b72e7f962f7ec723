"""The Hugging Face Trainer as textfit runs it, and its callbacks.

Evaluation batches capped in padded tokens, training batches of similar length, the fast path's
gradient clipping, and progress bars on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from transformers import Trainer
from transformers.trainer_callback import ProgressCallback

from textfit.accel.training import clip_gradients
from textfit.data.labels import LabelSet
from textfit.data.tasks import SINGLE_LABEL, Task
from textfit.inference.batches import length_batches
from textfit.metrics import scalar_metrics, task_report
from textfit.modeling import batch_tokens
from textfit.tokenization import token_lengths

# Batches per pool sorted by length (see length_bucket_order); None: the whole epoch is one pool.
# One pool: pads least, trains fastest, keeps macro-F1 (benchmarks/RESULTS.md, section 4, "One length pool").
LENGTH_POOL: int | None = None


def compute_metrics(eval_prediction: Any, labels: LabelSet, task: Task = SINGLE_LABEL) -> dict[str, float]:
    """The Trainer's validation metrics after each evaluation (compute_metrics), as numbers.

    Multi-label thresholds are 0.5 while training; they are tuned on validation at the end.
    """
    logits = eval_prediction.predictions
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
    truth = eval_prediction.label_ids
    report = task_report(task, truth, task.scores(logits), list(labels.names))
    return {**scalar_metrics(report), "samples": len(truth)}  # logged as eval_samples: every row counts


def length_bucket_order(lengths: list[int], batch_size: int, pool: int | None, generator: Any) -> list[int]:
    """An epoch's order of examples: batches of similar length, the batches in random order.

    Shuffle, cut into pools of `pool` batches (None: one pool of all rows), sort each pool by length
    (stable: rows of equal length stay shuffled) and cut it into batches, then shuffle the full
    batches (a short last batch stays last, so that batches stay aligned).
    Unlike the Trainer's LengthGroupedSampler, whose batches run from the longest to the shortest
    in each mega-batch of 50, this keeps the batch order random: when length goes with the label
    (long spam, short ham) a long-to-short sweep feeds one class at a time and costs accuracy.
    """
    indices = torch.randperm(len(lengths), generator=generator).tolist()
    span = len(indices) if pool is None else pool * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(indices), span):
        chunk = sorted(indices[start : start + span], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    short = [batch for batch in batches if len(batch) < batch_size]
    full = [batch for batch in batches if len(batch) == batch_size]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return [index for batch in shuffled + short for index in batch]


def _no_gather(tensors: Any) -> Any:
    return tensors


class BudgetEvalTrainer(Trainer):  # a real need: the Trainer batches evaluation by rows only
    """The Trainer, its evaluation batches capped in padded tokens, its loss the mean over rows."""

    _loss_sums: list[tuple[float, int]]  # (sum of the batch's losses, rows) of one evaluation

    def _clip_grad_norm(self, model: Any) -> Any:
        # The fast path's clipping reads the kept embedding gradient: one process, no fp16 loss scaling.
        if self.args.world_size == 1 and not getattr(self.accelerator, "scaler", None):
            norm = clip_gradients(model, self.args.max_grad_norm)
            if norm is not None:
                return norm
        return super()._clip_grad_norm(model)  # type: ignore[no-untyped-call]

    def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
        """One process: the validation rows (sorted by length) in batches capped in padded tokens.

        At most eval_batch_size rows and modeling.batch_tokens padded tokens: without the token cap
        the last batch pads its texts to the longest of all and takes a large share of the time
        (benchmarks/RESULTS.md, section 4).
        """
        dataset: Any = self.eval_dataset if eval_dataset is None else eval_dataset
        if self.args.world_size > 1 or isinstance(dataset, str) or "length" not in dataset.column_names:
            return super().get_eval_dataloader(eval_dataset)
        batches = length_batches(
            token_lengths(dataset).tolist(),
            self.args.eval_batch_size,
            batch_tokens(self.args.device.type),
        )
        return torch.utils.data.DataLoader(
            self._remove_unused_columns(dataset, description="Evaluation"),
            batch_sampler=[batch.tolist() for batch in batches],  # shortest texts first
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
        )

    def prediction_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The Trainer's step, its loss kept with the batch's rows (see evaluation_loop)."""
        loss, logits, labels = super().prediction_step(model, inputs, *args, **kwargs)
        if loss is not None and hasattr(self, "_loss_sums"):
            rows = len(inputs["input_ids"])
            self._loss_sums.append((float(loss) * rows, rows))
        return loss, logits, labels

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        """The Trainer's loop, its loss the mean over rows (one process only).

        The Trainer weighs each batch's mean loss as eval_batch_size rows. With several processes,
        each sees its own shard (the Trainer gathers).
        """
        if self.args.world_size > 1:
            return super().evaluation_loop(*args, **kwargs)
        # One process has nothing to gather. gather_for_metrics would trim each batch to the
        # remainder of the dataloader accelerate last saw end: the training one, mid-epoch.
        self.gather_function = _no_gather
        self._loss_sums = []
        output = super().evaluation_loop(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        metrics: Any = output.metrics
        if self._loss_sums and metrics and f"{prefix}_loss" in metrics:
            metrics[f"{prefix}_loss"] = sum(total for total, _ in self._loss_sums) / sum(
                rows for _, rows in self._loss_sums
            )
        del self._loss_sums
        return output


class LengthBucketSampler(torch.utils.data.Sampler[int]):
    """The training rows in length_bucket_order, a function of (seed, epoch)."""

    def __init__(self, lengths: list[int], batch_size: int, pool: int | None, seed: int) -> None:
        """Order rows of these token lengths in batches of batch_size, pools of `pool` batches."""
        self.lengths, self.batch_size, self.pool = lengths, batch_size, pool
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        """The number of rows."""
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer before each epoch, also the one a resumed run starts in.

        The order is a function of (seed, epoch), so a resumed run sees the batches it would have.
        """
        self.epoch = epoch

    def __iter__(self) -> Any:
        """The row indices of this epoch."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(length_bucket_order(self.lengths, self.batch_size, self.pool, generator))


class LengthBucketTrainer(BudgetEvalTrainer):  # a real need: the Trainer takes no sampler argument
    """BudgetEvalTrainer, its training batches from length_bucket_order (train.group_by_length)."""

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        # The dataset passed in has lost its unused columns, "length" among them; same row order.
        dataset: Any = self.train_dataset
        lengths = token_lengths(dataset).tolist()  # list(dataset["length"]) reads row by row
        return LengthBucketSampler(lengths, self.args.train_batch_size, LENGTH_POOL, self.args.seed)


def trainer_class(group_by_length: bool) -> type[BudgetEvalTrainer]:
    """The Trainer class for train.group_by_length."""
    return LengthBucketTrainer if group_by_length else BudgetEvalTrainer


class StderrProgress(ProgressCallback):
    """The Trainer's progress bars (on stderr), with loss, learning rate and samples/s in the bar.

    Validation metrics are written as a line above the bar after each evaluation; stdout is for results.
    """

    started = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Name the bar, and start the clock of samples/s."""
        super().on_train_begin(args, state, control, **kwargs)  # type: ignore[no-untyped-call]
        if self.training_bar is not None:
            self.training_bar.set_description("training")
        self.started = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        """Show the training loss in the bar; write a line of validation metrics above it."""
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if "loss" in logs:
            samples = state.global_step * args.train_batch_size * args.gradient_accumulation_steps
            elapsed = time.perf_counter() - self.started
            shown = {"loss": f"{logs['loss']:.4g}", "lr": f"{logs.get('learning_rate', 0.0):.3g}"}
            if elapsed > 0:
                shown["samples/s"] = f"{samples / elapsed:.1f}"
            self.training_bar.set_postfix(shown)
        if "eval_loss" in logs:
            best = args.metric_for_best_model.removeprefix("eval_")
            metrics = ", ".join(
                f"{key} {logs[f'eval_{key}']:.4g}"
                for key in dict.fromkeys(["loss", "accuracy", "f1_macro", best])
                if isinstance(logs.get(f"eval_{key}"), float)
            )
            self.training_bar.write(
                f"epoch {state.epoch:.3g}, step {state.global_step}: {metrics}", file=sys.stderr
            )
