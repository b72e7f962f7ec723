"""Padding prediction batches: `textfit.inference.batches.pad_batch` against `tokenizer.pad`.

    python benchmarks/pad_speed.py RUN ../shared/data/sms_spam/test.csv --rounds 3

Tokenizes every text of the table (column `text`) with the run's tokenizer, cuts the batches that
`Classifier.predict_proba` cuts, then pads them all, alternating the ways (`tokenizer.pad` into
tensors, as `Classifier` padded before; into arrays, as `OnnxClassifier` did; `pad_batch` into
tensors), and prints the milliseconds each round took and whether the arrays are equal.
"""

from __future__ import annotations

import time

from run_table import read_texts, run_table_parser


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    from textfit.inference.batches import length_batches, pad_batch
    from textfit.inference.classifier import Classifier

    texts = read_texts(args.table)
    classifier = Classifier.load(args.run_dir, device="cpu")
    tokenizer = classifier.tokenizer
    encoded = tokenizer(texts, truncation=True, max_length=tokenizer.model_max_length)
    rows = zip(*encoded.values(), strict=True)
    features = [dict(zip(encoded.keys(), values, strict=True)) for values in rows]
    lengths = [len(ids) for ids in encoded["input_ids"]]
    batches = [[features[i] for i in batch] for batch in length_batches(lengths, *classifier._batch_limits())]

    ways = {  # Classifier padded into tensors, OnnxClassifier into arrays
        "tokenizer.pad, tensors": lambda batch: tokenizer.pad(batch, return_tensors="pt"),
        "tokenizer.pad, arrays": lambda batch: tokenizer.pad(batch, return_tensors="np"),
        "pad_batch, tensors": lambda batch: {
            k: torch.from_numpy(v) for k, v in pad_batch(batch, tokenizer).items()
        },
    }
    for batch in batches:
        want, *others = (way(batch) for way in ways.values())
        assert all(np.array_equal(want[key], other[key]) for other in others for key in want), "arrays differ"
    print(f"{len(texts)} texts in {len(batches)} batches; the ways give equal arrays")
    for round_number in range(1, args.rounds + 1):
        for name, way in ways.items():
            started = time.perf_counter()
            for batch in batches:
                way(batch)
            print(f"round {round_number}: {name} {(time.perf_counter() - started) * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
