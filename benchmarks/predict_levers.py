"""What the prediction levers buy on a CPU: weights cast once to bf16, eager attention, packed tokens.

    python benchmarks/predict_levers.py RUN ../shared/data/sms_spam/test.csv --rounds 3

Ways to run the same run's model in bf16, alternating in one process, each round predicting every
text of the table (column `text`) and then one text 50 times:
- before: fp32 weights under autocast (cast to bf16 again in every batch) and SDPA attention;
- bf16 weights, SDPA attention;
- bf16 weights, eager attention;
- bf16 weights, eager attention, the last layer at the first token (`textfit.accel.firsttoken`), and
  the same prepacked (see below: what `Classifier.load` does on a CPU for the RoBERTa family);
- bf16 weights, BERT on packed tokens (`textfit.accel.packed`);
- the same with every linear layer's weight reordered once into oneDNN's layout (`textfit.accel.prepack`:
  what `Classifier.load` does for BERT on a CPU);
- with `--baseline REV`, also `textfit.accel.packed` as it was at git revision REV (without prepacking).
Prints texts/s and the one-text latency of each round, and the labels each shares with `before`.
"""

from __future__ import annotations

import time

from at_revision import module_at
from run_table import read_texts, run_table_parser


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also textfit.accel.packed at this git revision")
    args = parser.parse_args()

    import torch

    from textfit.accel import firsttoken, prepack
    from textfit.inference.classifier import Classifier

    works = prepack._works  # ways without prepacking patch it to say no

    texts = read_texts(args.table)
    ways = {}
    for name, cast, attention, packed, first, prepacked in [
        ("before: fp32 weights under autocast, SDPA", False, "sdpa", None, False, False),
        ("bf16 weights, SDPA", True, "sdpa", None, False, False),
        ("bf16 weights, eager attention", True, "eager", None, False, False),
        ("bf16 weights, eager attention, first token", True, "eager", None, True, False),
        ("bf16 weights, eager attention, first token, prepacked", True, "eager", None, True, True),
        ("bf16 weights, packed tokens", True, "eager", "now", False, False),
        ("bf16 weights, packed tokens, prepacked", True, "eager", "now", False, True),
        *(
            [(f"bf16 weights, packed tokens at {args.baseline}", True, "eager", args.baseline, False, False)]
            * bool(args.baseline)
        ),
    ]:
        prepack._works = works if prepacked else lambda dtype: False
        paths = ("packed", "prepack") if packed else ("prepack",)
        classifier = Classifier.load(args.run_dir, precision="bf16", device="cpu", fast_paths=paths)
        classifier.model.to(torch.bfloat16 if cast else torch.float32)
        classifier.model.set_attn_implementation(attention)
        if first:
            firsttoken.enable(classifier.model)
        if packed not in (None, "now"):  # PackedCpuBackend with the PackedBert of that revision
            classifier.backend.packed = module_at(packed, "packed").PackedBert(classifier.model)  # type: ignore[attr-defined]
        ways[name] = classifier
    reference = None
    for name, classifier in ways.items():
        labels = classifier.predict_proba(texts).argmax(axis=1)  # also warms up
        reference = labels if reference is None else reference
        print(f"{name}: {(labels == reference).sum()} of {len(texts)} labels equal to before's")
    print("\n| round | way | texts/s | one text, ms |\n|---:|---|---:|---:|")
    for round_number in range(1, args.rounds + 1):
        for name, classifier in ways.items():
            started = time.perf_counter()
            classifier.predict_proba(texts)
            rate = len(texts) / (time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(50):
                classifier.predict_proba(texts[:1])
            latency = (time.perf_counter() - started) / 50 * 1000
            print(f"| {round_number} | {name} | {rate:.1f} | {latency:.1f} |", flush=True)


if __name__ == "__main__":
    main()
