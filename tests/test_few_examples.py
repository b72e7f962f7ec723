"""The advice for few labelled examples: when it is given, what it suggests, and that train() gives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import textfit
from conftest import CLASS_WORDS, class_rows, write_csv
from textfit.checks.base import FEW_EXAMPLES_ROWS
from textfit.checks.labels import few_examples_advice

EXPECT = (
    "few labelled examples: 'pos' has 16 training rows (under 50 per class); expect lower scores that "
    "change from seed to seed, and validation scores on few rows that say little. "
)


def test_the_defaults_get_every_suggestion() -> None:
    advice = few_examples_advice({"neg": 49, "pos": 16}, 3, 32, "minilm")

    assert advice == EXPECT + (
        "Train longer on smaller batches (--epochs 20 --batch-size 8: more updates from the same rows); "
        "a larger model (--model mpnet) may help; keep the learning rate (a larger one often diverges); "
        "label more rows if you can"
    )


def test_only_the_changes_not_made_yet_are_suggested() -> None:
    assert few_examples_advice({"neg": 30, "pos": 16}, 20, 8, "mpnet") == EXPECT + (
        "Keep the learning rate (a larger one often diverges); label more rows if you can"
    )
    assert "(--batch-size 8: " in (few_examples_advice({"pos": 16}, 12, 32, "mpnet") or "")


@pytest.mark.parametrize("counts", [{"neg": FEW_EXAMPLES_ROWS, "pos": 900}, {}])
def test_no_advice_from_fifty_rows_per_class(counts: dict[str, int]) -> None:
    assert few_examples_advice(counts, 3, 32, "minilm") is None


def test_train_warns_with_the_advice(
    tiny_settings: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = class_rows(CLASS_WORDS, 60)
    few = [row for row in rows if row["label"] == "positive"][:20] + [
        r for r in rows if r["label"] == "negative"
    ]
    train_file = write_csv(tmp_path / "few.csv", few)

    with caplog.at_level("WARNING", logger="textfit.training.train"):
        result = textfit.train(
            train_file=train_file,
            output_dir=tmp_path / "run",
            progress=False,
            **{**tiny_settings, "epochs": 1},
        )

    advice = few_examples_advice({"positive": 18, "negative": 54}, 1, 4, tiny_settings["model"])
    assert advice is not None
    assert advice.startswith("few labelled examples: 'positive' has 18 training rows")
    assert advice in result.warnings
    assert advice in caplog.text
