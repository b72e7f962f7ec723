"""Prediction with and without `textfit.modeling.keep_freed_memory`, each in its own processes.

    python benchmarks/freed_memory.py RUN ../shared/data/sms_spam/test.csv --pairs 2

glibc's malloc settings hold for a whole process, so each side runs in child processes, in turn:
"kept" as `Classifier.load` sets it, "glibc default" with GLIBC_TUNABLES set to a no-op (which makes
`keep_freed_memory` leave malloc alone). Each child predicts the table twice to warm up, then four
times; prints their texts/s and the child's peak RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys

from run_table import run_table_parser

CHILD = """
import csv, resource, sys, time
from textfit.modeling import keep_freed_memory
from textfit.inference.classifier import Classifier
with open(sys.argv[2], encoding="utf-8", newline="") as handle:
    texts = [row["text"] for row in csv.DictReader(handle)]
classifier = Classifier.load(sys.argv[1], device="cpu")
for _ in range(2):
    classifier.predict_proba(texts)
rates = []
for _ in range(4):
    started = time.perf_counter()
    classifier.predict_proba(texts)
    rates.append(len(texts) / (time.perf_counter() - started))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
shown = " / ".join(f"{rate:.0f}" for rate in rates)
print(f"kept={keep_freed_memory()} texts/s {shown}, peak RSS {peak:.0f} MiB")
"""


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()

    for _ in range(args.pairs):
        for side, tunables in (("glibc default", "glibc.malloc.check=0"), ("kept", None)):
            env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
            env.update({"GLIBC_TUNABLES": tunables} if tunables else {})
            command = [sys.executable, "-c", CHILD, str(args.run_dir), str(args.table)]
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            print(f"{side:14s} {result.stdout.strip()}")


if __name__ == "__main__":
    main()
