"""`textfit init-config`: every setting with its default and explanation, loading back to the defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from textfit.cli.main import app
from textfit.config.loading import _field_names, load_config
from textfit.config.schema import RunConfig
from textfit.config.template import default_config_yaml, init_config
from textfit.errors import ConfigError

runner = CliRunner()


def _keys_in_order(text: str) -> list[str]:
    """The dotted keys of a YAML text's `key:` lines, in the order they appear (by indentation)."""
    keys: list[str] = []
    parents: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^( *)([A-Za-z_]\w*):", line)
        if match:
            depth = len(match.group(1)) // 2
            parents = [*parents[:depth], match.group(2)]
            keys.append(".".join(parents))
    return keys


def test_the_template_loads_back_to_the_default_config(tmp_path: Path) -> None:
    path = tmp_path / "textfit.yaml"

    init_config(path)

    assert path.read_text(encoding="utf-8") == default_config_yaml()
    assert load_config(path) == RunConfig()


def test_the_template_lists_every_setting_in_order() -> None:
    text = default_config_yaml()

    assert _keys_in_order(text) == _field_names(RunConfig)
    assert set(yaml.safe_load(text)) == {"output_dir", "data", "model", "train", "tune", "hub"}


def test_every_setting_has_an_explanation_above_it() -> None:
    lines = default_config_yaml().splitlines()

    for index, line in enumerate(lines):
        if re.match(r"^ *\w+:", line):
            above = lines[index - 1].strip()
            assert above.startswith("# "), f"no explanation above {line!r}"
            assert len(above) > 10, f"no explanation above {line!r}"


def _setting_block(text: str, key: str) -> str:
    """The comment lines above `key:` and that line itself."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    start = index
    while lines[start - 1].strip().startswith("#"):
        start -= 1
    return "\n".join(lines[start : index + 1])


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "lr_scheduler",
            "One of: linear, cosine, cosine_with_restarts,\n  # polynomial, constant, constant_with_warmup."
            "\n  lr_scheduler: linear",
        ),
        ("eval_strategy", "One of: no, steps, epoch.\n  eval_strategy: epoch"),
        ("format", "One of: auto, csv, tsv, jsonl, parquet.\n  format: auto"),
        ("validation_split", "Range: > 0.0, < 1.0.\n  validation_split: 0.1"),
        ("early_stopping_patience", "never stop early. Range: >= 1.\n  early_stopping_patience: null"),
        ("report_to", "report_to: [none]"),
        ("learning_rate", "# Peak learning rate of AdamW. Range: > 0.\n  learning_rate: 0.0001"),
        (
            "output_dir",
            "# Run folder; default runs/<training file name>, or runs/<data set>-<config>.\noutput_dir: null",
        ),
    ],
)
def test_defaults_allowed_values_and_bounds_are_shown(key: str, expected: str) -> None:
    assert expected in _setting_block(default_config_yaml(), key)


def test_a_bare_no_for_a_strategy_is_read_as_no(tmp_path: Path) -> None:
    text = default_config_yaml()
    for key in ("eval_strategy", "save_strategy"):
        text = text.replace(f"  {key}: epoch\n", f"  {key}: no\n")  # YAML reads a bare no as false
    path = tmp_path / "textfit.yaml"
    path.write_text(text, encoding="utf-8")

    cfg = load_config(path)

    assert (cfg.train.eval_strategy, cfg.train.save_strategy) == ("no", "no")


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("  epochs: 3.0", "  epochs: 7", {"train.epochs": 7.0}),
        ("  name: minilm", "  name: ./my-model", {"model.name": "./my-model"}),
        ("  train_file: null", "  train_file: data.csv", {"data.train_file": Path("data.csv")}),
        (
            "  report_to: [none]",
            "  report_to: [tensorboard, mlflow]",
            {"train.report_to": ["tensorboard", "mlflow"]},
        ),
    ],
)
def test_editing_one_value_changes_that_setting_only(
    tmp_path: Path, old: str, new: str, changed: dict[str, Any]
) -> None:
    text = default_config_yaml()
    assert text.count(old + "\n") == 1
    path = tmp_path / "textfit.yaml"
    path.write_text(text.replace(old + "\n", new + "\n"), encoding="utf-8")

    assert load_config(path) == load_config(None, changed)
    assert load_config(path) != RunConfig()


def test_init_config_refuses_to_replace_a_file(tmp_path: Path) -> None:
    path = tmp_path / "textfit.yaml"
    path.write_text("train:\n  epochs: 1\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(f"{path} already exists")) as raised:
        init_config(path)

    assert raised.value.hint == "pass --overwrite to replace it, or -o to write another file"
    assert path.read_text(encoding="utf-8") == "train:\n  epochs: 1\n"
    init_config(path, overwrite=True)
    assert load_config(path) == RunConfig()


def test_init_config_into_a_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path} is a folder")) as raised:
        init_config(tmp_path, overwrite=True)

    assert raised.value.hint == "pass a file name, e.g. -o textfit.yaml"


# ---------------------------------------------------------------- the command


def test_init_config_prints_the_template_to_stdout() -> None:
    result = runner.invoke(app, ["init-config"])

    assert result.exit_code == 0, result.stderr
    assert result.stdout == default_config_yaml()
    assert result.stderr == ""


def test_init_config_writes_a_file_and_says_what_next(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "textfit.yaml"

    result = runner.invoke(app, ["init-config", "-o", str(path)])

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"config written to {path}",
        f"next: edit it, then textfit train --config {path}",
    ]
    assert load_config(path) == RunConfig()
    assert [p.name for p in path.parent.iterdir()] == ["textfit.yaml"], "no temporary file left"


def test_init_config_cli_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "textfit.yaml"
    path.write_text("# mine\n", encoding="utf-8")

    refused = runner.invoke(app, ["init-config", "-o", str(path)])
    replaced = runner.invoke(app, ["init-config", "-o", str(path), "--overwrite"])

    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert f"error: {path} already exists" in refused.stderr
    assert "hint: pass --overwrite to replace it, or -o to write another file" in refused.stderr
    assert replaced.exit_code == 0, replaced.stderr
    assert path.read_text(encoding="utf-8") == default_config_yaml()
