"""A textfit module as it was at a git revision, for benchmarks that compare a change with its baseline."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path


def module_at(revision: str, name: str) -> types.ModuleType:
    """src/textfit/NAME.py at a git revision, executed as a module of its own (textfit's imports as today)."""
    root = Path(__file__).resolve().parents[1]
    show = ["git", "show", f"{revision}:src/textfit/{name}.py"]
    source = subprocess.run(show, cwd=root, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"{name}_at_{revision}")
    exec(compile(source, f"{name}.py at {revision}", "exec"), module.__dict__)
    return module
