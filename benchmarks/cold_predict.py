"""A lever's worth on the first prediction call of a fresh process: prepacked linear weights.

    python benchmarks/cold_predict.py RUN ../shared/data/sms_spam/test.csv --processes 4

Starts fresh Python processes, alternating two ways of the current code, each loading the run
with `Classifier.load` and predicting every text of the table (column `text`) three times: the
first call is the one `textfit predict` and bench_sms.py time. The ways differ in one lever:
- prepacked: what `Classifier.load` does (`textfit.accel.prepack`: linear weights reordered once into
  oneDNN's layout);
- not prepacked: `textfit.accel.prepack` told that oneDNN cannot (torch's own linear).
Prints the load time and the texts/s of each call, then each way's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from run_table import read_texts, run_table_parser

WAYS = ("not prepacked", "prepacked")


def child(run_dir: Path, table: Path, way: str, precision: str) -> None:
    """One process: load, predict three times, print JSON."""
    started = time.perf_counter()
    from textfit.accel import prepack
    from textfit.inference.classifier import Classifier

    if way == "not prepacked":
        prepack._works = lambda dtype: False  # type: ignore[assignment]
    texts = read_texts(table)
    classifier = Classifier.load(run_dir, device="cpu", precision=precision)
    load = time.perf_counter() - started
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        classifier.predict_proba(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    print(json.dumps({"load": load, "rates": rates}))


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4, help="fresh processes per way")
    parser.add_argument("--precision", default="auto", help="auto, bf16 or fp32")
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.run_dir, args.table, args.child, args.precision)
        return

    first: dict[str, list[float]] = {way: [] for way in WAYS}
    later: dict[str, list[float]] = {way: [] for way in WAYS}
    print(
        "| process | way | load, s | first call, texts/s | second | third |\n|---:|---|---:|---:|---:|---:|"
    )
    for number in range(1, args.processes + 1):
        for way in WAYS:
            command = [sys.executable, __file__, str(args.run_dir), str(args.table), "--child", way]
            command += ["--precision", args.precision]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            rates = result["rates"]
            first[way].append(rates[0])
            later[way] += rates[1:]
            shown = " | ".join(f"{rate:.1f}" for rate in rates)
            print(f"| {number} | {way} | {result['load']:.2f} | {shown} |", flush=True)
    print()
    for way in WAYS:
        print(
            f"{way}: median first call {statistics.median(first[way]):.1f} texts/s, "
            f"later calls {statistics.median(later[way]):.1f}"
        )
    ratio = statistics.median(first["prepacked"]) / statistics.median(first["not prepacked"])
    print(f"prepacked / not prepacked, first call: {ratio:.3f}x")


if __name__ == "__main__":
    main()
