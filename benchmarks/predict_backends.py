"""Prediction throughput and agreement of textfit's backends on one run, against PyTorch fp32.

    textfit export RUN --format onnx --check ../shared/data/sms_spam/test.csv
    python benchmarks/predict_backends.py RUN ../shared/data/sms_spam/test.csv

Each backend predicts all texts of the table (column `text`) three times, alternating with the
others in one process; the table gives the best of the three (texts/s, prediction only: the models
are loaded first), how many labels equal PyTorch fp32's, the largest probability difference and,
where the table has a `label` column, the macro-F1.
"""

from __future__ import annotations

import csv
import time

import numpy as np

from run_table import run_table_parser


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0], "a run folder exported with textfit export")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="CPU threads of each backend (default: the libraries')")
    args = parser.parse_args()

    import torch
    from sklearn.metrics import f1_score

    from textfit.inference.classifier import Classifier
    from textfit.inference.onnx import MODELS, OnnxClassifier, _session

    with args.table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["text"] for row in rows]
    gold = [row["label"] for row in rows] if rows and "label" in rows[0] else None
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = Classifier.load(args.run_dir, precision="fp32")
    backends = {"PyTorch fp32": reference, "PyTorch bf16": Classifier.load(args.run_dir, precision="bf16")}
    for name, file in MODELS.items():
        if (args.run_dir / "onnx" / file).is_file():
            session = _session(args.run_dir / "onnx" / file, args.threads)
            backends[f"ONNX Runtime {name}"] = OnnxClassifier(
                session, reference.model.config, reference.tokenizer, 64, name
            )
    expected = reference.predict_proba(texts)
    rates: dict[str, float] = {}
    agreement: dict[str, tuple[int, float]] = {}
    f1: dict[str, str] = {}
    for _ in range(args.repeats):
        for name, classifier in backends.items():
            started = time.perf_counter()
            probabilities = classifier.predict_proba(texts)
            rates[name] = max(rates.get(name, 0.0), len(texts) / (time.perf_counter() - started))
            same = int((probabilities.argmax(axis=1) == expected.argmax(axis=1)).sum())
            agreement[name] = (same, float(np.abs(probabilities - expected).max()))
            if gold is not None:
                predicted = [reference.labels[i] for i in probabilities.argmax(axis=1)]
                f1[name] = f"{f1_score(gold, predicted, average='macro'):.4f}"
    print("| backend | texts/s | labels equal to PyTorch fp32 | largest probability difference | macro-F1 |")
    print("|---|---:|---:|---:|---:|")
    for name in backends:
        same, largest = agreement[name]
        print(f"| {name} | {rates[name]:.0f} | {same} / {len(texts)} | {largest:.2g} | {f1.get(name, '-')} |")


if __name__ == "__main__":
    main()
