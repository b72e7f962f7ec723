"""Where `textfit.train`'s time inside `trainer.train()` goes: steps, optimizer, evaluation, checkpoint.

    python benchmarks/train_phases.py --epochs 1

Trains the default model on SMS spam (`../shared/data/sms_spam/train.csv`) with textfit's defaults,
timing the Trainer's training steps, the optimizer steps, the end-of-epoch evaluation (its
prediction steps apart), the checkpoint and loading the best model, and prints seconds and calls.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sms_spam" / "train.csv"
PHASES = ("training_step", "prediction_step", "evaluate", "_save_checkpoint", "_load_best_model", "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--output-dir", type=Path, default=Path("/tmp/textfit-train-phases"))
    args = parser.parse_args()

    import torch
    from transformers import Trainer

    import textfit

    seconds: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*positional: Any, **keywords: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*positional, **keywords)
            finally:
                seconds[label] += time.perf_counter() - started
                calls[label] += 1

        setattr(owner, name, wrapper)

    for name in PHASES:
        timed(Trainer, name, name)
    timed(torch.optim.AdamW, "step", "optimizer step")
    result = textfit.train(
        train_file=args.data, epochs=args.epochs, output_dir=args.output_dir, overwrite=True, progress=False
    )
    print(f"{result.metrics['train']['samples']} training rows, trainer.train() {seconds['train']:.2f} s")
    for label in [*PHASES[:-1], "optimizer step"]:
        print(f"  {label:18s} {seconds[label]:7.2f} s  {calls[label]:4d} calls")


if __name__ == "__main__":
    main()
