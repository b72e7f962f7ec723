"""Class weights and focal loss: the weights computed, the loss itself, the settings and a tiny run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

import textfit
from conftest import CLASS_WORDS, TINY_TRAIN_SETTINGS, class_rows
from textfit import ConfigError, load_config
from textfit.cli.main import app
from textfit.training.losses import class_weights, loss_function


def test_balanced_weights_are_rows_over_classes_times_class_rows_and_average_one() -> None:
    label_ids = [0, 1, 1, 1, 1, 1, 1, 1, 2, 2]  # 1, 7 and 2 rows

    weights = class_weights("balanced", ["a", "b", "c"], label_ids)

    assert weights == pytest.approx([10 / 3, 10 / 21, 10 / 6], rel=1e-5)
    assert sum(weights[i] for i in label_ids) / len(label_ids) == pytest.approx(1.0, rel=1e-5)


def test_explicit_weights_leave_unnamed_labels_at_one_and_none_means_no_weights() -> None:
    assert class_weights({"spam": 5.0}, ["ham", "spam"], [0, 1]) == [1.0, 5.0]
    assert class_weights("none", ["ham", "spam"], [0, 1]) is None


def test_explicit_weight_of_an_unknown_label_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("names 'spma', not a label of the training data")) as err:
        class_weights({"spma": 5.0}, ["ham", "spam"], [0, 1])

    assert "(did you mean 'spam'?)" in str(err.value)
    assert "Labels: 'ham', 'spam'" in str(err.value)
    assert (
        err.value.hint
        == "name the labels as they are written in the label column, e.g. --class-weights spam=5"
    )


def test_weighted_loss_is_torch_cross_entropy_with_weights_over_the_rows() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    weights = [2.0, 0.5, 1.0]
    compute = loss_function(weights)
    assert compute is not None

    loss = compute({"logits": logits}, labels)

    per_row = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.tensor(weights), reduction="none"
    )
    assert loss.item() == pytest.approx(per_row.sum().item() / 6, rel=1e-5)
    # With gradient accumulation the Trainer gives the rows of all accumulated batches.
    assert compute({"logits": logits}, labels, torch.tensor(12)).item() == pytest.approx(loss.item() / 2)


def test_focal_loss_with_gamma_zero_is_cross_entropy_and_counts_easy_rows_less() -> None:
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])  # row 0 confidently right, row 1 barely
    labels = torch.tensor([0, 0])
    cross_entropy = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    focal_zero, focal_two = loss_function(None, "focal", 0.0), loss_function(None, "focal", 2.0)
    assert focal_zero is not None
    assert focal_two is not None

    assert focal_zero((logits,), labels).item() == pytest.approx(cross_entropy.mean().item(), rel=1e-5)
    p_true = torch.softmax(logits, dim=-1)[:, 0]
    expected = (cross_entropy * (1 - p_true) ** 2).mean()
    assert focal_two((logits,), labels).item() == pytest.approx(expected.item(), rel=1e-5)
    shrink = (cross_entropy * (1 - p_true) ** 2) / cross_entropy
    assert shrink[0] < 0.001 < 0.2 < shrink[1]


def test_plain_cross_entropy_leaves_the_model_its_own_loss() -> None:
    assert loss_function(None, "cross_entropy") is None


def test_class_weights_settings_read_a_mapping_from_a_flag_or_yaml() -> None:
    from_flag = load_config(None, {"train.class_weights": "spam=5, ham=1"}).train.class_weights
    from_yaml = load_config(None, {"train.class_weights": {"spam": 5, 1: "2.5"}}).train.class_weights

    assert from_flag == {"spam": 5.0, "ham": 1.0}
    assert from_yaml == {"spam": 5.0, "1": 2.5}
    assert load_config(None, {"train.class_weights": "balanced"}).train.class_weights == "balanced"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("spam=0", "train.class_weights: the weight of 'spam' must be above 0, not 0"),
        ("spam=lots", "train.class_weights: the weight of 'spam' must be a number, not 'lots'"),
        ({"spam": [1]}, "train.class_weights: the weight of 'spam' must be a number"),
    ],
)
def test_bad_class_weights_are_config_errors(value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, {"train.class_weights": value})


def test_unknown_loss_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("train.loss: Input should be 'cross_entropy' or 'focal'")
    ):
        load_config(None, {"train.loss": "hinge"})


# ---------------------------------------------------------------- in training


def test_class_weights_reach_the_loss_and_are_saved(tiny_settings: dict[str, Any], make_csv: Any) -> None:
    # A near-zero weight on 'negative' leaves only the 'positive' rows to learn from: the model
    # then calls everything positive, which it would not do with the plain loss.
    train_file = make_csv("binary.csv", class_rows(CLASS_WORDS, 24))
    settings = {**tiny_settings, "class_weights": {"negative": 1e-4}}

    result = textfit.train(
        train_file=train_file, output_dir=train_file.parent / "run", progress=False, **settings
    )

    per_class = result.metrics["validation"]["per_class"]
    assert per_class["negative"]["recall"] == 0.0
    assert per_class["positive"]["recall"] == 1.0
    assert result.metrics["train"]["class_weights"] == {"negative": 1e-4, "positive": 1.0}
    saved = yaml.safe_load((result.run_dir / "run_config.yaml").read_text(encoding="utf-8"))
    assert saved["train"]["class_weights"] == {"negative": 1e-4}
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train"]["loss"] == "cross_entropy"


def test_plain_run_learns_both_classes_and_records_no_weights(tiny_run: textfit.TrainResult) -> None:
    assert tiny_run.metrics["validation"]["per_class"]["negative"]["recall"] > 0.5
    assert tiny_run.metrics["train"]["class_weights"] is None


def test_cli_class_weights_balanced_and_focal_loss(
    tiny_model_dir: Path, make_csv: Any, tmp_path: Path
) -> None:
    rows = class_rows({"positive": CLASS_WORDS["positive"]}, 40) + class_rows(
        {"negative": CLASS_WORDS["negative"]}, 8
    )
    train_file = make_csv("skewed.csv", rows)
    config = tmp_path / "tiny.yaml"
    train = {k: v for k, v in TINY_TRAIN_SETTINGS.items() if k != "max_length"}
    config.write_text(
        yaml.safe_dump({"model": {"name": str(tiny_model_dir), "max_length": 16}, "train": train}),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    flags = ["--class-weights", "balanced", "--loss", "focal", "--validation-split", "0.25", "--epochs", "10"]

    result = CliRunner().invoke(
        app,
        [*("train", str(train_file), "--config", str(config), "-o", str(run_dir)), *flags],
    )

    assert result.exit_code == 0, result.stderr
    assert "loss: focal (gamma 2), class weights negative 3, positive 0.6" in result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train"]["loss"] == "focal"
    assert metrics["train"]["class_weights"] == {"negative": 3.0, "positive": 0.6}
    assert metrics["validation"]["f1_macro"] > 0.8
    saved = load_config(run_dir / "run_config.yaml")
    assert (saved.train.class_weights, saved.train.loss) == ("balanced", "focal")
