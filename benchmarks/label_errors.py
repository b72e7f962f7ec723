"""Label errors found for you (issue 21), measured: flip a share of the training labels, find them, retrain.

For a data folder with train.csv and test.csv (text, label): a seeded subset of each, then 5% of the
training labels flipped at random (seeded) to another class. `find_label_errors` (the embeddings
method by default, 5 folds) gives the precision and recall of the flipped rows it finds; then
textfit trains (MiniLM, 1 epoch, seed 42) on the clean table, the noisy table, and the noisy table
without the rows found, and each run's test macro-F1 is reported. A markdown table on stdout, JSON
with --json-out.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/label_errors.py ../shared/data/sms_spam
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/label_errors.py ../shared/data/ag_news \
        --train-rows 10000 --test-rows 2000
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/label_errors.py ../shared/data/sms_spam \
        --method finetune --epochs 1 --no-training   # precision / recall of the fine-tuning method
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


def _subset(rows: list[dict[str, str]], count: int | None, seed: int) -> list[dict[str, str]]:
    """A seeded sample of `count` rows in file order (all rows when count is None or larger)."""
    if count is None or count >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), count))]


def flip_labels(rows: list[dict[str, str]], share: float, seed: int) -> tuple[list[dict[str, str]], set[int]]:
    """The rows with round(share * rows) labels flipped to another class (seeded), and the flipped indices."""
    rng = random.Random(seed)
    classes = sorted({row["label"] for row in rows})
    flipped = set(rng.sample(range(len(rows)), round(share * len(rows))))
    noisy = [dict(row) for row in rows]
    for index in sorted(flipped):
        noisy[index]["label"] = rng.choice([name for name in classes if name != rows[index]["label"]])
    return noisy, flipped


def _train(train_file: Path, test_file: Path, output_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from textfit import train

    started = time.perf_counter()
    result = train(
        train_file=train_file,
        test_file=test_file,
        output_dir=output_dir,
        epochs=args.train_epochs,
        seed=42,
        progress=False,
    )
    test = result.metrics["test"]
    return {
        "test_f1_macro": round(test["f1_macro"], 4),
        "test_accuracy": round(test["accuracy"], 4),
        "trained_rows": result.metrics["train"]["samples"],  # the table less the validation share
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    clean = _subset(read_rows(args.data / "train.csv"), args.train_rows, args.seed)
    test = _subset(read_rows(args.data / "test.csv"), args.test_rows, args.seed)
    with tempfile.TemporaryDirectory(prefix="textfit-label-errors-bench-") as tmp:
        return _measure(args, clean, test, Path(tmp))


def _measure(
    args: argparse.Namespace, clean: list[dict[str, str]], test: list[dict[str, str]], work: Path
) -> dict[str, Any]:
    from textfit.config.loading import with_settings
    from textfit.label_errors import find_label_errors

    noisy, flipped = flip_labels(clean, args.noise, args.seed)
    files = {"clean": write_rows(work / "clean.csv", clean), "noisy": write_rows(work / "noisy.csv", noisy)}
    test_file = write_rows(work / "test.csv", test)
    settings: dict[str, Any] = {"train_file": files["noisy"], "seed": 42}
    found = find_label_errors(
        with_settings(None, settings),
        method=args.method,
        folds=args.folds,
        epochs=args.epochs,
        seed=args.seed,
    )
    found_rows = {row.row - 1 for row in found.rows}  # every row of the table is usable: row - 1 is its index
    hits = len(found_rows & flipped)
    results: dict[str, Any] = {
        "data": str(args.data),
        "train_rows": len(clean),
        "test_rows": len(test),
        "flipped": len(flipped),
        "method": args.method,
        "folds": found.folds,
        "found": len(found_rows),
        "found_flipped": hits,
        "precision": round(hits / len(found_rows), 4) if found_rows else None,
        "recall": round(hits / len(flipped), 4),
        "find_seconds": round(found.seconds, 1),
        "runs": {},
    }
    print(markdown(results), flush=True)
    if args.training:
        cleaned = [row for index, row in enumerate(noisy) if index not in found_rows]
        files["cleaned"] = write_rows(work / "cleaned.csv", cleaned)
        tables = {"clean": clean, "noisy": noisy, "cleaned": cleaned}
        for name in ("clean", "noisy", "cleaned"):
            results["runs"][name] = _train(files[name], test_file, work / f"run-{name}", args)
            results["runs"][name]["table_rows"] = len(tables[name])
            print(f"{name}: {results['runs'][name]}", flush=True)
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"{results['data']}: {results['train_rows']:,} training rows, {results['flipped']:,} labels flipped; "
        f"{results['method']}, {results['folds']} folds: found {results['found']:,} rows, "
        f"{results['found_flipped']:,} of them flipped, in {results['find_seconds']} s",
        "",
        "| precision | recall |",
        "|---|---|",
        f"| {results['precision']} | {results['recall']} |",
    ]
    if results["runs"]:
        lines += [
            "",
            "| trained on | table rows | test macro-F1 | test accuracy | seconds |",
            "|---|---|---|---|---|",
        ]
        for name, run_ in results["runs"].items():
            lines.append(
                f"| {name} | {run_['table_rows']:,} | {run_['test_f1_macro']:.4f} | "
                f"{run_['test_accuracy']:.4f} | {run_['seconds']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="folder with train.csv and test.csv (text, label)")
    parser.add_argument(
        "--train-rows", type=int, default=None, help="seeded subset of train.csv (default all)"
    )
    parser.add_argument("--test-rows", type=int, default=None, help="seeded subset of test.csv (default all)")
    parser.add_argument("--noise", type=float, default=0.05, help="share of training labels flipped")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets, the flips and the folds")
    parser.add_argument("--method", choices=("embeddings", "finetune"), default="embeddings")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=float, default=None, help="finetune: epochs per fold")
    parser.add_argument("--train-epochs", type=float, default=1.0, help="epochs of the three runs")
    parser.add_argument(
        "--no-training", dest="training", action="store_false", help="precision / recall only"
    )
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(args)
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(markdown(results))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
