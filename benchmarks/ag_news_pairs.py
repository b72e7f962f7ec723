"""Write a sentence-pair table from AG News: do two headlines share a topic? (same / different).

AG News is non-commercial: the table is for tests and benchmarks only, never shipped.

    python benchmarks/ag_news_pairs.py ../shared/data/ag_news/train.csv /tmp/ag_pairs_train.csv --pairs 3000
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="an AG News CSV (text,label)")
    parser.add_argument("output", type=Path, help="the pair table to write (sentence1,sentence2,label)")
    parser.add_argument("--pairs", type=int, default=3000, help="number of pairs, half of each label")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with args.source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_topic: dict[str, list[str]] = {}
    for row in rows:
        by_topic.setdefault(row["label"], []).append(row["text"])
    rng = random.Random(args.seed)
    topics = sorted(by_topic)
    pairs = []
    for index in range(args.pairs):
        first_topic = rng.choice(topics)
        if index % 2 == 0:
            second_topic, label = first_topic, "same"
        else:
            second_topic, label = rng.choice([t for t in topics if t != first_topic]), "different"
        pairs.append((rng.choice(by_topic[first_topic]), rng.choice(by_topic[second_topic]), label))
    with args.output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence1", "sentence2", "label"])
        writer.writerows(pairs)


if __name__ == "__main__":
    main()
