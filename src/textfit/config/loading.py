"""Build the RunConfig: defaults < YAML file < dotted overrides (or keyword settings); save it as YAML."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from textfit.config.schema import RunConfig
from textfit.errors import ConfigError
from textfit.files import write_text_atomic


class _Null:
    """The value of an override that sets a setting to null (`--set tune.timeout=null`)."""

    def __repr__(self) -> str:
        return "NULL"


# In dotted overrides None means "flag not given" (left out); NULL sets the setting to None.
NULL: Any = _Null()


def _field_names(model: type[BaseModel]) -> list[str]:
    """Every dotted key a config accepts, for 'did you mean' suggestions."""
    names = []
    for name, field in model.model_fields.items():
        names.append(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [f"{name}.{sub}" for sub in _field_names(annotation)]
    return names


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        # Compare the last parts of keys as deep as this one: 'train.zzzz' is not a misspelt
        # 'train' nor 'train.seed', and 'data.epochs' is 'train.epochs' (setting names are unique).
        # A leaf in two sections (epochs: train and tune): the key's own section first, then not tune.
        section = key.partition(".")[0]
        names = [name for name in _field_names(RunConfig) if name.count(".") == key.count(".")]
        names.sort(key=lambda name: (name.startswith(f"{section}."), not name.startswith("tune.")))
        by_leaf = {name.rpartition(".")[2]: name for name in names}  # the last, best-ranked, wins
        close = difflib.get_close_matches(key.rpartition(".")[2], list(by_leaf), n=1)
        suggestion = f" (did you mean {by_leaf[close[0]]!r}?)" if close else ""
        return f"{key}: unknown setting{suggestion}"
    if error["type"] == "value_error":  # our own validators: their message, without "Value error, "
        return f"{key}: {error['ctx']['error']}"
    if error.get("input", "") is None:  # `key: null` in YAML, or --set key=null
        return f"{key}: cannot be null, it needs a value ({error['msg'][0].lower()}{error['msg'][1:]})"
    return f"{key}: {error['msg']}"


def build_config(values: dict[str, Any], source: str = "settings") -> RunConfig:
    """Validate nested values into a RunConfig, reporting every problem at once.

    Raises:
        ConfigError: listing each bad setting by its dotted key.
    """
    try:
        return RunConfig.model_validate(values)
    except ValidationError as err:
        problems = "\n  ".join(_describe(e) for e in err.errors())
        raise ConfigError(
            f"invalid {source}:\n  {problems}",
            hint="`textfit init-config` lists every setting with its default; "
            "run_config.yaml of a run shows them all",
        ) from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{'train.epochs': 2} -> {'train': {'epochs': 2}}; None values (flag not given) are left out.

    NULL (an explicit null, `--set tune.timeout=null`) becomes None.
    """
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = None if value is NULL else value
    return nested


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Build a RunConfig from defaults < the YAML file at `path` < dotted `overrides`.

    Args:
        path: a YAML file with sections data, model, train (for example a run's run_config.yaml).
        overrides: dotted keys such as {"train.epochs": 2}; None values are ignored, NULL sets None.

    Raises:
        ConfigError: the file is missing or not YAML, or a setting is unknown or invalid.
    """
    values: dict[str, Any] = {}
    source = "settings"
    if path is not None:
        source = f"config {path}"
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist",
                hint="check the path (relative paths start from the current folder)",
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(
                f"{path} is not valid YAML: {err}", hint="fix the YAML at the line named above"
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"{path} must hold a mapping with sections data, model, train",
                hint="write it like a run's run_config.yaml: `train:`, then `  epochs: 2` below it",
            )
        values = loaded or {}
    return build_config(_merge(values, _nest(overrides or {})), source)


def save_config(cfg: RunConfig, path: Path) -> None:
    """Write cfg as YAML (atomically), in a form load_config reads back to an equal RunConfig."""
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    write_text_atomic(path, text)


def keyword_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """Flat keyword settings ({'epochs': 2, 'model': 'mpnet'}) as dotted keys for load_config.

    Every setting name is unique across the sections, so `epochs` means `train.epochs`; `model`
    given as a string means `model.name`, and dotted keys pass through.

    Raises:
        ConfigError: a name is not a setting.
    """
    sections = {
        name: section
        for section in ("data", "model", "train", "hub")
        for name in RunConfig.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
    }
    dotted: dict[str, Any] = {}
    unknown = []
    for key, value in settings.items():
        if key == "model" and isinstance(value, str):
            dotted["model.name"] = value
        elif key == "output_dir" or "." in key:
            dotted[key] = value
        elif key in sections:
            dotted[f"{sections[key]}.{key}"] = value
        else:
            close = difflib.get_close_matches(key, [*sections, "output_dir"], n=1)
            unknown.append(f"{key}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}", hint="see textfit.RunConfig")
    return dotted


def with_settings(cfg: RunConfig | None, settings: dict[str, Any]) -> RunConfig:
    """Cfg (defaults when None) with keyword settings over it; see keyword_overrides."""
    values = cfg.model_dump() if cfg is not None else {}
    return build_config(_merge(values, _nest(keyword_overrides(settings))))
