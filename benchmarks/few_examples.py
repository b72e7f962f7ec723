"""What textfit reaches from few labelled examples: 16 per class of AG News, tested on all of test.csv.

Draws a fixed sample (seed 0) of `--per-class` training rows per class from ag_news/train.csv, then
trains MiniLM on it with textfit's defaults and with the settings textfit suggests for few examples
(more epochs, smaller batches), for each training seed, and tests every run on the full test.csv
(7,600 rows). The validation set is textfit's default: a stratified 10% of the sample.

Usage: `python benchmarks/few_examples.py --seeds 42 1 2 --settings defaults suggested --workdir /tmp/few`
(`--model mpnet` for the larger preset).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ag_news"
SETTINGS = {  # name: (shown as, settings)
    "defaults": ("defaults (3 epochs, batch 32)", {}),
    "suggested": ("suggested (20 epochs, batch 8)", {"epochs": 20, "batch_size": 8}),
}


def sample(path: Path, per_class: int, seed: int, out: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    rng = random.Random(seed)
    picked = [row for label in sorted(by_label) for row in rng.sample(by_label[label], per_class)]
    rng.shuffle(picked)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(picked)
    return len(picked)


def main() -> None:
    import textfit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--workdir", type=Path, default=Path("runs/few_examples"))
    parser.add_argument("--model", default="minilm", help="minilm, mpnet, a folder or a hub id")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    train_file = args.workdir / "train.csv"
    rows = sample(DATA / "train.csv", args.per_class, 0, train_file)
    print(f"{rows} training rows ({args.per_class} per class, sample seed 0), {args.model}")
    print(f"test: {DATA / 'test.csv'}")
    print("\n| settings | seed | test accuracy | test macro-F1 | train s |")
    print("|---|---:|---:|---:|---:|")
    results: dict[str, list[float]] = {}
    for key in args.settings:
        name, settings = SETTINGS[key]
        for seed in args.seeds:
            result = textfit.train(
                train_file=train_file,
                test_file=DATA / "test.csv",
                output_dir=args.workdir / f"{args.model}-{key}-{seed}",
                model=args.model,
                seed=seed,
                progress=False,
                overwrite=True,
                **settings,
            )
            test = result.metrics["test"]
            results.setdefault(name, []).append(test["f1_macro"])
            print(
                f"| {name} | {seed} | {test['accuracy']:.4f} | {test['f1_macro']:.4f} | "
                f"{result.metrics['train']['runtime_seconds']:.0f} |",
                flush=True,
            )
    print("\n| settings | mean test macro-F1 | min | max |")
    print("|---|---:|---:|---:|")
    for name, scores in results.items():
        print(f"| {name} | {statistics.mean(scores):.4f} | {min(scores):.4f} | {max(scores):.4f} |")


if __name__ == "__main__":
    main()
