"""The commented YAML of every setting that `textfit init-config` writes: defaults and what they do."""

from __future__ import annotations

import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from textfit.config.schema import RunConfig
from textfit.files import check_file_to_write, write_text_atomic

COMMENT_WIDTH = 100  # init-config wraps its explanations at this width


def _allowed_values(annotation: Any) -> list[Any]:
    """The values a Literal field (or an optional one) allows; empty for other types."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [value for arg in typing.get_args(annotation) for value in _allowed_values(arg)]
    return []


def _bounds(field: Any) -> str:
    """A field's numeric bounds, as `> 0`, `>= 1, <= 8192`; empty when it has none."""
    signs = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    parts = [
        f"{signs[name]} {getattr(rule, name)}"
        for rule in field.metadata
        for name in signs
        if getattr(rule, name, None) is not None
    ]
    return ", ".join(parts)


def _yaml_value(name: str, value: Any) -> str:
    """`name: value` as one YAML line (a list in flow style: `report_to: [none]`)."""
    if isinstance(value, list):
        return f"{name}: {yaml.safe_dump(value, default_flow_style=True, width=1000).strip()}"
    line: str = yaml.safe_dump({name: value}, default_flow_style=False, width=1000)
    return line.strip()


def _commented_section(model: type[BaseModel], defaults: dict[str, Any], indent: str) -> list[str]:
    """The YAML lines of one section: each setting below a comment that explains it."""
    lines: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            summary = (annotation.__doc__ or "").strip().splitlines()[0]
            lines += ["", f"{indent}# {summary}", f"{indent}{name}:"]
            lines += _commented_section(annotation, defaults[name], indent + "  ")
            continue
        comment = (field.description or "").strip()
        allowed = _allowed_values(annotation)
        if allowed:
            comment += " One of: " + ", ".join("null" if v is None else str(v) for v in allowed) + "."
        if bounds := _bounds(field):
            comment += f" Range: {bounds}."
        wrapped = textwrap.wrap(comment, width=COMMENT_WIDTH - len(indent) - 2)
        lines += [f"{indent}# {part}" for part in wrapped]
        lines.append(indent + _yaml_value(name, defaults[name]))
    return lines


def default_config_yaml() -> str:
    """Every setting of RunConfig, section by section, with its default and a one-line explanation.

    The text is YAML that `load_config` reads back to the default RunConfig; edit a value to change it.
    """
    header = [
        "# textfit run configuration: every setting, with its default value.",
        "# Use it with `textfit train --config FILE`; flags given on the command line win over it.",
        "# Keep only the settings you change, if you like: a missing setting takes its default.",
        "# Paths are relative to the folder textfit runs in, not to this file.",
        "",
    ]
    defaults = RunConfig().model_dump(mode="json")
    return "\n".join(header + _commented_section(RunConfig, defaults, "")) + "\n"


def init_config(path: Path, overwrite: bool = False) -> None:
    """Write default_config_yaml() to path (atomically).

    Raises:
        ConfigError: path exists and overwrite is False, or path is a folder.
    """
    check_file_to_write(path, overwrite, "-o", "textfit.yaml")
    write_text_atomic(path, default_config_yaml())
