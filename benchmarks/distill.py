"""Distillation on AG News: few labels, many unlabelled rows; a MiniLM student of an MPNet teacher.

A seeded stratified subset of L labelled rows of train.csv trains the teacher (preset mpnet); the
student (preset minilm) is distilled (`textfit.distill`) on those L rows plus U other train.csv rows
with their labels blanked, and compared with the same student trained (`textfit.train`) on the L
labels alone, for the same epochs. All three are tested on a seeded subset of test.csv; the
validation split is the same stratified share of the L rows for all three. AG News is for research
only: the tables are written to a temporary folder, never shipped.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/distill.py ../shared/data/ag_news \
        --labelled 200 --unlabelled 3000 --test-rows 1000 --epochs 4 --json distill.json
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/distill.py ../shared/data/ag_news \
        --labelled 600 --unlabelled 3000 --test-rows 1000 --epochs 2 --json distill-600.json

On 2 CPU cores each takes about 15 minutes (benchmarks/RESULTS.md, section 10).
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


def _stratified(rows: list[dict[str, str]], count: int, seed: int) -> list[dict[str, str]]:
    """`count` rows, each label's share as in `rows`, in a seeded order."""
    from sklearn.model_selection import train_test_split

    picked, _ = train_test_split(
        rows, train_size=count, stratify=[row["label"] for row in rows], random_state=seed
    )
    return list(picked)


def _tables(args: argparse.Namespace, folder: Path) -> dict[str, Path]:
    """labelled.csv (L rows), distill.csv (the L rows, then U rows without labels), test.csv."""
    train = [{"text": row["text"], "label": row["label"]} for row in read_rows(args.data / "train.csv")]
    rng = random.Random(args.seed)
    rng.shuffle(train)
    labelled = _stratified(train, args.labelled, args.seed)
    chosen = {id(row) for row in labelled}
    unlabelled = [{"text": row["text"], "label": ""} for row in train if id(row) not in chosen]
    test = [{"text": row["text"], "label": row["label"]} for row in read_rows(args.data / "test.csv")]
    rng.shuffle(test)
    return {
        "labelled": write_rows(folder / "labelled.csv", labelled),
        # The labelled rows first, in the same order: distill holds out the same validation rows.
        "distill": write_rows(folder / "distill.csv", labelled + unlabelled[: args.unlabelled]),
        "test": write_rows(folder / "test.csv", test[: args.test_rows]),
    }


def _row(name: str, result: Any, seconds: float) -> dict[str, Any]:
    test, validation = result.metrics["test"], result.metrics["validation"]
    return {
        "model": name,
        "train_rows": result.metrics["train"]["samples"],
        "test_f1_macro": round(test["f1_macro"], 4),
        "test_accuracy": round(test["accuracy"], 4),
        "validation_f1_macro": round(validation["f1_macro"], 4),
        "train_seconds": round(result.metrics["train"]["runtime_seconds"], 1),
        "total_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the AG News folder (train.csv, test.csv)")
    parser.add_argument("--labelled", type=int, default=200, help="L: labelled training rows")
    parser.add_argument("--unlabelled", type=int, default=3000, help="U: unlabelled rows for distillation")
    parser.add_argument("--test-rows", type=int, default=1000, help="rows of test.csv scored")
    parser.add_argument("--epochs", type=float, default=4.0, help="of the teacher and of both students")
    parser.add_argument("--teacher", default="mpnet")
    parser.add_argument("--student", default="minilm")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from textfit import train
    from textfit.training.distill import distill

    settings = {"epochs": args.epochs, "max_length": args.max_length, "seed": args.seed}
    rows = []
    with tempfile.TemporaryDirectory(prefix="textfit-distill-") as tmp:
        folder = Path(tmp)
        tables = _tables(args, folder)
        common = {"test_file": tables["test"], "progress": False, **settings}
        started = time.perf_counter()
        teacher = train(
            train_file=tables["labelled"], model=args.teacher, output_dir=folder / "teacher", **common
        )
        rows.append(_row(f"teacher {args.teacher} (L labels)", teacher, time.perf_counter() - started))
        started = time.perf_counter()
        student = distill(
            teacher.run_dir,
            train_file=tables["distill"],
            model=args.student,
            output_dir=folder / "distilled",
            temperature=args.temperature,
            alpha=args.alpha,
            **common,
        )
        rows.append(_row(f"{args.student} distilled (L + U)", student, time.perf_counter() - started))
        rows[-1]["agreement_with_teacher"] = round(student.agreement["test"], 4)
        started = time.perf_counter()
        alone = train(
            train_file=tables["labelled"], model=args.student, output_dir=folder / "labels", **common
        )
        rows.append(_row(f"{args.student} on L labels alone", alone, time.perf_counter() - started))
        rows[-1]["agreement_with_teacher"] = round(_agreement(alone.run_dir, teacher.run_dir), 4)
    _print(args, rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"settings": vars(args) | {"data": str(args.data), "json": str(args.json)}, "rows": rows},
                indent=2,
            )
            + "\n"
        )


def _agreement(run_dir: Path, teacher_dir: Path) -> float:
    """The share of test rows where two runs predict the same class (their predictions files)."""
    import pyarrow.parquet as pq

    def predicted(folder: Path) -> list[str]:
        return (
            pq.read_table(folder / "predictions-test.parquet", columns=["predicted_label"])
            .column(0)
            .to_pylist()
        )

    first, second = predicted(run_dir), predicted(teacher_dir)
    return sum(a == b for a, b in zip(first, second, strict=True)) / len(first)


def _print(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    print(
        f"AG News: L={args.labelled} labelled rows, U={args.unlabelled} unlabelled, test {args.test_rows} "
        f"rows (seeded subset of test.csv), {args.epochs:g} epochs, max length {args.max_length}, "
        f"T={args.temperature:g}, alpha={args.alpha:g}, seed {args.seed}\n"
    )
    header = ["model", "training rows", "test macro-F1", "test accuracy", "agreement with teacher (test)"]
    print("| " + " | ".join([*header, "training s", "total s"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        agreement = row.get("agreement_with_teacher")
        cells = [
            row["model"],
            str(row["train_rows"]),
            f"{row['test_f1_macro']:.4f}",
            f"{row['test_accuracy']:.4f}",
            "-" if agreement is None else f"{agreement:.4f}",
            f"{row['train_seconds']:.0f}",
            f"{row['total_seconds']:.0f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
