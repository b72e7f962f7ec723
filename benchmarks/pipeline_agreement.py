"""Check that `textfit predict` and a plain transformers pipeline give the same labels for a run.

python benchmarks/pipeline_agreement.py runs/sms ../shared/data/sms_spam/test.csv [--precision fp32]

The pipeline runs in fp32; textfit in the precision given (auto, its default: bf16 on a CPU with
AVX-512 BF16).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

from run_table import read_texts, run_table_parser


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--precision", default="auto", help="textfit predict's --precision (default auto)")
    args = parser.parse_args()

    from transformers import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "predictions.csv"
        command = [
            "textfit",
            "predict",
            str(args.run_dir),
            str(args.table),
            "-o",
            str(output),
            "-q",
            "--precision",
            args.precision,
        ]
        subprocess.run(command, check=True)
        with output.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    # The texts as the input file has them: the output CSV puts a quote before a leading = + - @.
    texts = read_texts(args.table)
    classify = pipeline("text-classification", model=str(args.run_dir / "model"), device="cpu")
    results = classify(texts, truncation=True, batch_size=32)
    same = sum(row["predicted_label"] == result["label"] for row, result in zip(rows, results, strict=True))
    largest = max(
        abs(float(row["predicted_probability"]) - result["score"])
        for row, result in zip(rows, results, strict=True)
        if row["predicted_label"] == result["label"]
    )
    print(f"{same} of {len(rows)} labels equal; largest probability difference {largest:.2e}")
    sys.exit(0 if same == len(rows) else 1)


if __name__ == "__main__":
    main()
