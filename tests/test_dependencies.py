"""Every package a textfit module imports is declared in pyproject.toml, where its feature needs it.

The core's imports must be in [project] dependencies; an optional feature's (FEATURES) may be in its
extra instead. Imports inside functions count: they fail just as late, on a user's machine.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11 on; the check needs to run on one version only

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# The modules of each optional feature (a folder or a file under src/), and the extra that installs it.
FEATURES = {
    "textfit/serve/": "serve",
    "textfit/inference/onnx.py": "onnx",
    "textfit/training/tracking.py": "tracking",
    "textfit/training/tune.py": "tune",
}


def _normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares them: scikit_learn, Scikit-Learn -> scikit-learn."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    """The distributions that requirement strings name ('torch>=2.4' -> torch)."""
    return {_normalized(re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0]) for spec in requirements}


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    """The core dependencies, and each extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {extra: _names(specs) for extra, specs in project.get("optional-dependencies", {}).items()}
    return _names(project["dependencies"]), extras


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of each absolute import in a file, at module level or in a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _feature(module: str) -> str | None:
    """The extra of the optional feature a module (textfit/serve/app.py) belongs to, if any."""
    return next((extra for prefix, extra in FEATURES.items() if module.startswith(prefix)), None)


def _third_party_imports() -> list[tuple[str, int, str]]:
    """(module file under src/, line, top-level module) of each import of another package."""
    own = {"textfit", "__future__", *sys.stdlib_module_names}
    return [
        (path.relative_to(SRC).as_posix(), line, name)
        for path in sorted((SRC / "textfit").rglob("*.py"))
        for line, name in _imports(path)
        if name not in own
    ]


def test_every_package_textfit_imports_is_declared() -> None:
    core, extras = _declared()
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, line, name in _third_party_imports():
        where = f"{module}:{line} imports {name}"
        distributions = {_normalized(dist) for dist in providers.get(name, [])}
        if not distributions:
            problems.append(f"{where}, which no installed distribution provides (install the dev extra)")
            continue
        extra = _feature(module)
        allowed = core | (extras[extra] if extra else set())
        if not distributions & allowed:
            place = f"dependencies or the {extra!r} extra" if extra else "[project] dependencies"
            problems.append(f"{where} (from {', '.join(sorted(distributions))}), not declared in {place}")
    assert not problems, "\n".join(problems)


def test_imports_inside_functions_are_seen() -> None:
    seen = {(module, name) for module, _, name in _third_party_imports()}
    # each of these is imported inside a function only
    assert {
        ("textfit/metrics.py", "scipy"),
        ("textfit/cli/output.py", "tqdm"),
        ("textfit/push.py", "huggingface_hub"),
        ("textfit/training/tune.py", "optuna"),
    } <= seen


def test_the_features_name_real_modules_and_extras() -> None:
    _, extras = _declared()
    for prefix, extra in FEATURES.items():
        assert (SRC / prefix).exists(), prefix
        assert extra in extras, extra


def test_a_requirement_s_name_is_read_as_pip_compares_it() -> None:
    assert _names(
        ["Scikit_Learn>=1.3", "torch", "uvicorn[standard] >=0.29", "tomli; python_version < '3.11'"]
    ) == {
        "scikit-learn",
        "torch",
        "uvicorn",
        "tomli",
    }
