"""Prediction batches capped at N padded tokens: texts/s for several caps, alternating in one process.

    python benchmarks/batch_tokens.py RUN ../shared/data/sms_spam/test.csv --caps 8192,2048,1024,512

Each round predicts every text of the table (column `text`) once per cap, in turn (the first round
also creates oneDNN's kernels for each batch shape). Prints, per cap, the batches, the padded tokens
over the real ones and the texts/s of each round. The caps replace `textfit.modeling.batch_tokens`
(1,024 on a CPU).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("table", type=Path, help="a CSV with a text column named text")
    parser.add_argument("--caps", default="8192,2048,1024,512", help="comma-separated padded-token caps")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    import textfit.predict
    from textfit.predict import Classifier, length_batches

    with args.table.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    classifier = Classifier.load(args.run_dir, device="cpu")
    lengths = [len(ids) for ids in classifier.tokenizer(texts, truncation=True)["input_ids"]]
    caps = [int(cap) for cap in args.caps.split(",")]
    rates: dict[int, list[float]] = {cap: [] for cap in caps}
    for _ in range(args.rounds):
        for cap in caps:
            textfit.predict.batch_tokens = lambda device_type=None, cap=cap: cap  # type: ignore[attr-defined,misc]
            started = time.perf_counter()
            classifier.predict_proba(texts)
            rates[cap].append(len(texts) / (time.perf_counter() - started))
    for cap in caps:
        batches = length_batches(lengths, classifier.batch_size, cap)
        padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
        shown = " / ".join(f"{rate:.0f}" for rate in rates[cap])
        share = padded / sum(lengths)
        print(f"cap {cap:5d}: {len(batches):3d} batches, padded / real {share:.3f}, texts/s {shown}")


if __name__ == "__main__":
    main()
