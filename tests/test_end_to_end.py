"""Fine-tune the real packaged MiniLM on a few hundred real SMS messages; predict from the run."""

from __future__ import annotations

from pathlib import Path

import pytest

import textfit
from conftest import read_csv, write_csv

SAMPLES = Path(textfit.__file__).parent / "samples" / "sms_spam"


def stratified_sample(source: Path, size: int, target: Path) -> Path:
    """`size` rows of `source` with its label shares, drawn with a fixed seed."""
    from sklearn.model_selection import train_test_split

    rows = read_csv(source)
    kept, _ = train_test_split(rows, train_size=size, stratify=[row["label"] for row in rows], random_state=0)
    return write_csv(target, kept, fieldnames=["text", "label"])


@pytest.mark.slow
@pytest.mark.usefixtures("all_threads")
def test_minilm_learns_sms_spam_and_predicts_from_the_saved_run(tmp_path: Path) -> None:
    train_file = stratified_sample(SAMPLES / "train.csv", 400, tmp_path / "train.csv")
    test_file = stratified_sample(SAMPLES / "test.csv", 200, tmp_path / "test.csv")

    result = textfit.train(
        train_file=train_file,
        test_file=test_file,
        output_dir=tmp_path / "run",
        epochs=2,  # model "minilm", precision "auto" and the learning rate stay the defaults
        batch_size=16,
        max_length=64,
        progress=False,
    )

    assert textfit.load_config(result.run_dir / "run_config.yaml").model.name == "minilm"
    test = result.metrics["test"]
    assert test["samples"] == 200
    assert test["f1_macro"] >= 0.8, test  # always predicting "ham" gives 0.47
    assert test["per_class"]["spam"]["recall"] >= 0.6, test

    classifier = textfit.Classifier.load(result.run_dir)
    spam = "WINNER!! You have won a £1000 cash prize! Call 09061701461 now to claim. T&C apply"
    ham = "Ok, I'll be home for dinner around 7. See you then"
    predictions = classifier.predict([spam, ham])
    assert [p.label for p in predictions] == ["spam", "ham"]
