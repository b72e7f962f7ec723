"""`--set KEY=VALUE` overrides: YAML values, and `null` setting a setting to None where it may be."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textfit import ConfigError
from textfit.cli.main import app
from textfit.config.loading import NULL, load_config
from textfit.config.schema import RunConfig


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_null_override_sets_none_where_a_plain_none_is_left_out(tmp_path: Path) -> None:
    config = tmp_path / "textfit.yaml"
    config.write_text("tune:\n  timeout: 100\ntrain:\n  early_stopping_patience: 3\n", encoding="utf-8")

    kept = load_config(config, {"tune.timeout": None, "train.early_stopping_patience": None})
    cleared = load_config(config, {"tune.timeout": NULL, "train.early_stopping_patience": NULL})

    assert kept.tune.timeout == 100
    assert kept.train.early_stopping_patience == 3
    assert cleared.tune.timeout is None
    assert cleared.train.early_stopping_patience is None
    assert load_config(None, {"tune.epochs": NULL}).tune.epochs is None  # not searched


def test_null_where_a_setting_needs_a_value_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("model.stride: cannot be null, it needs a value")) as err:
        load_config(None, {"model.stride": NULL, "train.epochs": NULL})

    expected = "train.epochs: cannot be null, it needs a value (input should be a valid number"
    assert expected in err.value.message
    assert err.value.hint is not None


def test_cli_set_null_reaches_the_config(
    tmp_path: Path, make_csv: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_csv("data.csv", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    config = tmp_path / "textfit.yaml"
    config.write_text("tune:\n  timeout: 100\n  n_trials: 3\n", encoding="utf-8")
    seen: list[RunConfig] = []

    def fake_tune(cfg: RunConfig, **_: Any) -> Any:
        seen.append(cfg)
        raise ConfigError("stopped here")

    # `textfit.tune` is the function (textfit/__init__); the module holds the one the CLI calls.
    monkeypatch.setattr(importlib.import_module("textfit.training.tune"), "tune", fake_tune)

    result = invoke(
        "tune", data, "--config", config, "--set", "tune.timeout=null", "--set", "tune.n_trials=5"
    )

    assert result.exit_code == 1
    assert "error: stopped here" in result.stderr
    assert seen[0].tune.timeout is None
    assert seen[0].tune.n_trials == 5


def test_cli_set_null_on_a_setting_that_needs_a_value_exits_1(make_csv: Any) -> None:
    data = make_csv("data.csv", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])

    result = invoke("train", data, "--set", "model.stride=null")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "model.stride: cannot be null, it needs a value (input should be a valid integer)" in result.stderr
