"""Flags to settings: dotted overrides (`train.epochs`), --set KEY=VALUE, and the validated RunConfig."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from textfit.config.schema import DataConfig, RunConfig


def set_overrides(items: list[str] | None) -> dict[str, Any]:
    """The --set KEY=VALUE items as dotted overrides, each VALUE read as YAML; null sets None."""
    import yaml

    from textfit.config.loading import NULL

    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        parsed = yaml.safe_load(value)
        overrides[key.strip()] = NULL if parsed is None else parsed
    return overrides


def training_config(config: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """The settings of check, train and tune, which need a training file or a data set to read.

    Neither TRAIN_FILE nor --dataset, nor a --config that names one, is a usage error (exit 2).
    """
    from textfit.config.loading import load_config

    cfg = load_config(config, overrides)
    if cfg.data.train_file is None and cfg.data.dataset is None:
        raise typer.BadParameter("give a training file or --dataset NAME (or a --config that names one)")
    return cfg


def data_config(overrides: dict[str, Any]) -> DataConfig:
    """The data settings of evaluate, predict and export, validated like train's (ConfigError)."""
    from textfit.config.loading import load_config

    return load_config(None, overrides).data
