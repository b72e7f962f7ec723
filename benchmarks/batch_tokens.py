"""Prediction batches capped at N padded tokens: texts/s for several caps, alternating in one process.

    python benchmarks/batch_tokens.py RUN ../shared/data/sms_spam/test.csv --caps 8192,2048,1024,512
    python benchmarks/batch_tokens.py RUN ../shared/data/sms_spam/test.csv --caps 1024 --scales 1,2
    python benchmarks/batch_tokens.py RUN ../shared/data/ag_news/test.csv --caps 1024 --scales 1,2 --peak-rss

Each round predicts every text of the table (column `text`) once per setting, in turn (the first
round also creates oneDNN's kernels for each batch shape). Prints, per setting, the batches, the
padded tokens over the real ones and the texts/s of each round. The caps replace
`textfit.modeling.batch_tokens` (1,024 on a CPU); the scales replace
`textfit.inference.backends.PACKED_BATCH_SCALE` (packed BERT's batches hold scale x batch_size texts
and scale x the cap in tokens; 2 by default). With --peak-rss each setting instead predicts once in a child
process of its own, which prints its texts/s and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from run_table import read_texts, run_table_parser


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--caps", default="8192,2048,1024,512", help="comma-separated padded-token caps")
    parser.add_argument("--scales", default="2", help="comma-separated PACKED_BATCH_SCALE values")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--peak-rss", action="store_true", help="one cold call per setting, each in a child")
    parser.add_argument("--child", nargs=2, type=int, metavar=("CAP", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    import textfit.inference.backends
    from textfit.inference.batches import length_batches
    from textfit.inference.classifier import Classifier

    settings = [(int(cap), int(scale)) for cap in args.caps.split(",") for scale in args.scales.split(",")]
    if args.peak_rss and args.child is None:
        for cap, scale in settings:
            child = [
                sys.executable,
                __file__,
                str(args.run_dir),
                str(args.table),
                "--child",
                str(cap),
                str(scale),
            ]
            said = subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip()
            print(f"cap {cap:5d} scale {scale}: {said}")
        return

    def use(cap: int, scale: int) -> None:
        textfit.inference.backends.batch_tokens = lambda device_type=None: cap  # type: ignore[attr-defined]
        textfit.inference.backends.PACKED_BATCH_SCALE = scale

    texts = read_texts(args.table)
    classifier = Classifier.load(args.run_dir, device="cpu")
    if args.child is not None:
        use(*args.child)
        started = time.perf_counter()
        classifier.predict_proba(texts)
        rate = len(texts) / (time.perf_counter() - started)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        print(f"{rate:.0f} texts/s, peak RSS {peak:.0f} MiB")
        return
    lengths = [len(ids) for ids in classifier.tokenizer(texts, truncation=True)["input_ids"]]
    rates: dict[tuple[int, int], list[float]] = {setting: [] for setting in settings}
    for _ in range(args.rounds):
        for cap, scale in settings:
            use(cap, scale)
            started = time.perf_counter()
            classifier.predict_proba(texts)
            rates[cap, scale].append(len(texts) / (time.perf_counter() - started))
    for cap, scale in settings:
        use(cap, scale)
        batches = length_batches(lengths, *classifier._batch_limits())
        padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
        shown = " / ".join(f"{rate:.0f}" for rate in rates[cap, scale])
        share = padded / sum(lengths)
        shape = f"{len(batches):3d} batches, padded / real {share:.3f}"
        print(f"cap {cap:5d} scale {scale}: {shape}, texts/s {shown}")


if __name__ == "__main__":
    main()
