"""End-to-end checks of the task types and long texts on real text, with the packaged MiniLM.

multilabel: AG News rows of one or two headlines (half each), labelled with their topics as a JSON
list. regression: the English tweets of tweet_sentiment_multilingual, negative / neutral / positive
as -1 / 0 / 1 with --task regression. long: AG News with a maximum length under most texts'
length (--max-length 32: the median text is 50 tokens), trained and tested with truncation, with
windows (mean and max of the window logits), and truncated at 128 tokens for reference. Both
datasets are for research only: the tables are written to a temporary folder, never shipped.

    PYTHONPATH=src python benchmarks/task_types.py multilabel ../shared/data/ag_news --rows 2000
    PYTHONPATH=src python benchmarks/task_types.py regression ../shared/data/tweet_sentiment_multilingual
    PYTHONPATH=src python benchmarks/task_types.py long ../shared/data/ag_news --rows 2000 --max-length 32
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from run_table import read_rows, write_rows


def _combined(rows: list[dict[str, str]], count: int, seed: int) -> list[dict[str, str]]:
    """`count` rows of one headline or two (half each), labelled with the JSON list of their topics."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        picked = rng.sample(rows, 1 + index % 2)
        topics = sorted({row["label"] for row in picked})
        made.append({"text": " ".join(row["text"] for row in picked), "label": json.dumps(topics)})
    rng.shuffle(made)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["multilabel", "regression", "long"])
    parser.add_argument("data", type=Path, help="the dataset folder (train.csv, test.csv)")
    parser.add_argument("--rows", type=int, default=2000, help="training rows (multilabel)")
    parser.add_argument("--test-rows", type=int, default=1000, help="test rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-length", type=int, default=32, help="long: the maximum length compared")
    parser.add_argument("--stride", type=int, default=8, help="long: tokens successive windows share")
    parser.add_argument("--epochs", type=float, default=1.0)
    args = parser.parse_args()
    if args.task == "long":
        long_texts(args)
        return

    import textfit

    folder = Path(tempfile.mkdtemp(prefix=f"textfit-{args.task}-"))
    if args.task == "multilabel":
        train_rows = _combined(read_rows(args.data / "train.csv"), args.rows, args.seed)
        test_rows = _combined(read_rows(args.data / "test.csv"), args.test_rows, args.seed)
        settings: dict[str, Any] = {}
    else:
        values = {"negative": "-1", "neutral": "0", "positive": "1"}

        def english(path: Path) -> list[dict[str, str]]:
            rows = [row for row in read_rows(path) if row["language"] == "en"]
            return [{"text": row["text"], "label": values[row["label"]]} for row in rows]

        train_rows = english(args.data / "train.csv")
        test_rows = english(args.data / "test.csv")[: args.test_rows]
        settings = {"task": "regression"}
    train_file = write_rows(folder / "train.csv", train_rows)
    test_file = write_rows(folder / "test.csv", test_rows)
    started = time.perf_counter()
    result = textfit.train(
        train_file=train_file,
        test_file=test_file,
        output_dir=folder / "run",
        progress=False,
        epochs=1,
        max_length=128,
        seed=args.seed,
        **settings,
    )
    seconds = time.perf_counter() - started
    test = result.metrics["test"]
    shown = {key: round(value, 4) for key, value in test.items() if isinstance(value, float)}
    print(f"task {result.metrics['task']}: {len(train_rows)} training rows, {len(test_rows)} test rows")
    print(f"test: {json.dumps(shown)}")
    if "per_label" in test:
        for name, row in test["per_label"].items():
            print(
                f"  {name}: precision {row['precision']:.3f}, recall {row['recall']:.3f}, "
                f"F1 {row['f1']:.3f}, threshold {row['threshold']:.2f}"
            )
    print(f"{seconds:.0f} s (train, evaluate, save); run in {result.run_dir}")
    classifier = textfit.Classifier.load(result.run_dir)
    for prediction, row in zip(
        classifier.predict([r["text"] for r in test_rows[:3]]), test_rows, strict=False
    ):
        got = prediction.labels if prediction.value is None else round(prediction.value, 3)
        print(f"  true {row['label']}: predicted {got}")


def long_texts(args: argparse.Namespace) -> None:
    """Truncation against windows at a maximum length under most texts' length, on AG News."""
    import textfit

    folder = Path(tempfile.mkdtemp(prefix="textfit-long-"))
    rng = random.Random(args.seed)
    train_rows = rng.sample(read_rows(args.data / "train.csv"), args.rows)
    test_rows = rng.sample(read_rows(args.data / "test.csv"), args.test_rows)
    train_file = write_rows(folder / "train.csv", train_rows)
    test_file = write_rows(folder / "test.csv", test_rows)
    runs = {
        f"truncate at {args.max_length}": {"max_length": args.max_length},
        f"window at {args.max_length}, mean": {
            "max_length": args.max_length,
            "long_text": "window",
            "stride": args.stride,
        },
        f"window at {args.max_length}, max": {
            "max_length": args.max_length,
            "long_text": "window",
            "stride": args.stride,
            "window_aggregation": "max",
        },
        "truncate at 128 (reference)": {"max_length": 128},
    }
    print(f"{len(train_rows)} training rows, {len(test_rows)} test rows; stride {args.stride}")
    print("| run | train texts over max length | train windows | test accuracy | test macro-F1 | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for index, (name, settings) in enumerate(runs.items()):
        result = textfit.train(
            train_file=train_file,
            test_file=test_file,
            output_dir=folder / f"run{index}",
            progress=False,
            epochs=args.epochs,
            seed=args.seed,
            **settings,
        )
        long = result.metrics.get("long_texts") or {}
        test = result.metrics["test"]
        seconds = result.metrics["train"]["runtime_seconds"]
        print(
            f"| {name} | {long.get('longer_than_max_length', '-')} | {long.get('windows', '-')} | "
            f"{test['accuracy']:.4f} | {test['f1_macro']:.4f} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
