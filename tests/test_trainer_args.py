"""train.trainer_args: TrainingArguments textfit does not model, passed through and checked first."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textfit import ConfigError
from textfit.cli.main import app
from textfit.config.loading import load_config, with_settings
from textfit.config.schema import RunConfig
from textfit.training.arguments import OWN_ARGUMENTS, own_arguments, training_arguments


def build(trainer_args: dict[str, Any]) -> Any:
    cfg = with_settings(None, {"trainer_args": trainer_args})
    return training_arguments(cfg, Path("out"), "fp32", progress=False)


def test_trainer_args_reach_the_training_arguments() -> None:
    # Names every transformers release from the floor (5.3) on has.
    args = build({"dataloader_num_workers": 2, "optim": "adafactor", "dataloader_pin_memory": False})

    assert args.dataloader_num_workers == 2
    assert args.optim == "adafactor"
    assert args.dataloader_pin_memory is False
    assert args.learning_rate == RunConfig().train.learning_rate  # textfit's own settings stay


def test_without_trainer_args_textfits_defaults_hold() -> None:
    args = build({})

    assert args.dataloader_num_workers == 0  # TRAINER_DEFAULTS, which trainer_args may change


def test_values_are_read_as_the_arguments_types() -> None:
    assert build({"dataloader_num_workers": "3"}).dataloader_num_workers == 3


def test_an_unknown_name_is_a_config_error_with_the_closest() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("train.trainer_args.dataloader_workers: not an argument")
    ) as err:
        build({"dataloader_workers": 2})

    assert "(did you mean 'dataloader_num_workers'?)" in err.value.message
    assert err.value.hint is not None
    assert "TrainingArguments" in err.value.hint


def test_a_name_textfit_sets_names_the_setting_to_use() -> None:
    with pytest.raises(ConfigError) as err:
        build({"learning_rate": 1e-3, "num_train_epochs": 5, "use_cpu": True})

    message = err.value.message
    assert "train.trainer_args.learning_rate: textfit sets it; use train.learning_rate" in message
    assert "train.trainer_args.num_train_epochs: textfit sets it; use train.epochs" in message
    assert "train.trainer_args.use_cpu: textfit sets it; use train.device" in message
    assert "textfit's own settings win" in str(err.value.hint)


def test_every_argument_textfit_sets_names_its_setting() -> None:
    """The clash check goes by what own_arguments builds; each of those has a setting to name."""
    built = own_arguments(RunConfig(), Path("out"), "fp32", progress=False)

    assert set(built) == set(OWN_ARGUMENTS)


def test_a_value_of_the_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=re.escape("train.trainer_args.dataloader_num_workers: 'many'")):
        build({"dataloader_num_workers": "many"})


def test_a_value_transformers_refuses_names_the_key() -> None:
    with pytest.raises(ConfigError, match=re.escape("train.trainer_args (optim): TrainingArguments refused")):
        build({"optim": "no_such_optimizer"})


def test_a_name_that_cannot_be_an_argument_fails_when_the_config_loads() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("train.trainer_args: 'bad key' is not a TrainingArguments")
    ):
        load_config(None, {"train.trainer_args": {"bad key": 1}})


def test_yaml_and_set_overrides_merge(tmp_path: Path) -> None:
    config = tmp_path / "textfit.yaml"
    config.write_text(
        "train:\n  trainer_args:\n    optim: adafactor\n    fsdp_config:\n      min_num_params: 100\n",
        encoding="utf-8",
    )

    cfg = load_config(
        config,
        {"train.trainer_args.dataloader_num_workers": 4, "train.trainer_args.fsdp_config.xla": False},
    )

    assert cfg.train.trainer_args == {
        "optim": "adafactor",
        "fsdp_config": {"min_num_params": 100, "xla": False},
        "dataloader_num_workers": 4,
    }


def test_cli_set_reaches_trainer_args(make_csv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_csv("data.csv", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    seen: list[RunConfig] = []

    def fake_train(cfg: RunConfig, **_: Any) -> Any:
        seen.append(cfg)
        raise ConfigError("stopped here")

    monkeypatch.setattr(importlib.import_module("textfit.push"), "train_and_push", fake_train)
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(data),
            "--set",
            "train.trainer_args.activation_checkpointing=true",
            "--set",
            "train.trainer_args.optim=adafactor",
        ],
    )

    assert "error: stopped here" in result.stderr, result.stderr
    assert seen[0].train.trainer_args == {"activation_checkpointing": True, "optim": "adafactor"}
