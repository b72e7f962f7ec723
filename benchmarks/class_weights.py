"""Class weights on a skewed AG News: one topic cut to 1/20 of the others, trained with and without them.

AG News is non-commercial: the tables are written to a temporary folder for this benchmark only.

    PYTHONPATH=src python benchmarks/class_weights.py ../shared/data/ag_news --per-class 1000
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from run_table import read_rows, write_rows


def _sample(path: Path, counts: dict[str, int], seed: int) -> list[dict[str, str]]:
    rows = read_rows(path)
    rng = random.Random(seed)
    rng.shuffle(rows)
    taken: dict[str, int] = {}
    picked = []
    for row in rows:
        if taken.get(row["label"], 0) < counts.get(row["label"], 0):
            taken[row["label"]] = taken.get(row["label"], 0) + 1
            picked.append({"text": row["text"], "label": row["label"]})
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ag_news", type=Path, help="folder with AG News train.csv and test.csv")
    parser.add_argument("--minority", default="Business", help="the topic cut down")
    parser.add_argument("--per-class", type=int, default=1000, help="training rows of each other topic")
    parser.add_argument("--ratio", type=int, default=20, help="the others have this many times the minority")
    parser.add_argument("--test-per-class", type=int, default=300, help="test rows per topic (balanced)")
    parser.add_argument("--runs", default="none,balanced,focal", help="of none, balanced, focal")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import textfit

    topics = ("Business", "Sci/Tech", "Sports", "World")
    counts = {topic: args.per_class for topic in topics} | {args.minority: args.per_class // args.ratio}
    folder = Path(tempfile.mkdtemp(prefix="textfit-class-weights-"))
    train_file = write_rows(folder / "train.csv", _sample(args.ag_news / "train.csv", counts, args.seed))
    test_counts = dict.fromkeys(topics, args.test_per_class)
    test_file = write_rows(folder / "test.csv", _sample(args.ag_news / "test.csv", test_counts, args.seed))
    print(f"training rows: {counts}; test rows: {test_counts}")
    settings = {"epochs": 1, "max_length": 128, "seed": args.seed, "model": "minilm"}
    runs = {
        "none": {"class_weights": "none"},
        "balanced": {"class_weights": "balanced"},
        "focal": {"class_weights": "balanced", "loss": "focal"},
    }
    print(
        f"| loss | {args.minority} recall (test) | {args.minority} precision | macro-F1 | accuracy "
        "| train s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.runs.split(","):
        started = time.perf_counter()
        result = textfit.train(
            train_file=train_file,
            test_file=test_file,
            output_dir=folder / f"run-{name}",
            progress=False,
            **settings,
            **runs[name],
        )
        seconds = time.perf_counter() - started
        test = result.metrics["test"]
        minority = test["per_class"][args.minority]
        print(
            f"| {name} | {minority['recall']:.3f} | {minority['precision']:.3f} | {test['f1_macro']:.4f} "
            f"| {test['accuracy']:.4f} | {seconds:.0f} |",
            flush=True,
        )
        (folder / f"{name}.json").write_text(json.dumps(result.metrics, indent=2), encoding="utf-8")
    print(f"runs and metrics in {folder}")


if __name__ == "__main__":
    main()
