"""Metrics per language: MiniLM (English-only) on a sample of the multilingual tweet sentiment set.

Draws `--rows` training rows (seed 0) from tweet_sentiment_multilingual/train.csv, trains MiniLM for
one epoch with `group_column="language"`, and tests on the full test.csv: the overall scores and the
per-language table that `textfit train --group-column language` prints, weakest first.

Usage: `python benchmarks/groups_multilingual.py --rows 3000 --workdir /tmp/groups`
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tweet_sentiment_multilingual"


def main() -> None:
    import textfit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--workdir", type=Path, default=Path("runs/groups_multilingual"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    with (DATA / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = random.Random(0).sample(rows, args.rows)
    train_file = args.workdir / "train.csv"
    with train_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label", "language"])
        writer.writeheader()
        writer.writerows(picked)
    result = textfit.train(
        train_file=train_file,
        test_file=DATA / "test.csv",
        group_column="language",
        model=args.model,
        epochs=args.epochs,
        output_dir=args.workdir / "run",
        progress=False,
        overwrite=True,
    )
    test = result.metrics["test"]
    print(
        f"{args.model}, {args.epochs:g} epoch(s) on {args.rows} training rows (seed 0), "
        f"{result.metrics['train']['runtime_seconds']:.0f} s; test: {test['samples']} rows, "
        f"accuracy {test['accuracy']:.4f}, macro-F1 {test['f1_macro']:.4f}"
    )
    train_counts: dict[str, int] = {}
    for row in picked:
        train_counts[row["language"]] = train_counts.get(row["language"], 0) + 1
    print("\n| language | test accuracy | test macro-F1 | test rows | training rows |")
    print("|---|---:|---:|---:|---:|")
    for language, report in test["groups"].items():
        print(
            f"| {language} | {report['accuracy']:.4f} | {report['f1_macro']:.4f} | {report['samples']} | "
            f"{train_counts.get(language, 0)} |"
        )


if __name__ == "__main__":
    main()
