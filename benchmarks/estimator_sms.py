"""TextClassifier against `textfit train` on SMS spam: the same rows and settings give the same model.

TextClassifier is a thin layer over textfit.train (tables held in memory instead of the file), so with
one seed both must reach the same test scores; this prints both, and the time of each whole call.

    python benchmarks/estimator_sms.py ../shared/data/sms_spam --epochs 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

import textfit
from run_table import read_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a folder with train.csv and test.csv (text, label)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    train_rows, test_rows = read_rows(args.data / "train.csv"), read_rows(args.data / "test.csv")
    texts, labels = [row["text"] for row in test_rows], [row["label"] for row in test_rows]
    results = {}
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        run = textfit.train(
            train_file=args.data / "train.csv",
            epochs=args.epochs,
            output_dir=Path(work) / "cli",
            progress=False,
        )
        predicted = [p.label for p in textfit.Classifier.load(run.run_dir).predict(texts)]
        results["textfit.train + Classifier"] = _scores(labels, predicted, time.perf_counter() - started)

        started = time.perf_counter()
        clf = textfit.TextClassifier(epochs=args.epochs)
        clf.fit([row["text"] for row in train_rows], [row["label"] for row in train_rows])
        results["TextClassifier.fit + predict"] = _scores(
            labels, list(clf.predict(texts)), time.perf_counter() - started
        )
    rows = f"{len(train_rows):,} training rows, {len(test_rows):,} test rows"
    print(f"SMS spam, {rows}, {args.epochs:g} epoch(s)\n")
    print("| path | test macro-F1 | test accuracy | seconds (whole call) |\n|---|---|---|---|")
    for name, found in results.items():
        print(f"| {name} | {found['f1_macro']:.4f} | {found['accuracy']:.4f} | {found['seconds']:.1f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _scores(labels: list[str], predicted: list[str], seconds: float) -> dict[str, float]:
    return {
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
        "accuracy": float(accuracy_score(labels, predicted)),
        "seconds": round(seconds, 1),
        "spam_predicted": int(np.sum(np.asarray(predicted) == "spam")),
    }


if __name__ == "__main__":
    main()
