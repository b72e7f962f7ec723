"""A deprecated call that textfit makes fails the tests (pyproject's filterwarnings); a library's own warns.

The rule matches the module a warning is attributed to: the caller of the deprecated function when the
library warns with stacklevel=2, as transformers, torch and datasets do.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest


def _old_api() -> None:
    warnings.warn("old_api() is deprecated", FutureWarning, stacklevel=2)


def _caller_in(module: str) -> Callable[[], Any]:
    """A function of the named module that calls _old_api."""
    namespace: dict[str, Any] = {"__name__": module, "old_api": _old_api}
    exec("def call():\n    old_api()\n", namespace)  # the frame's module is the namespace's __name__
    return namespace["call"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("module", ["textfit", "textfit.training.arguments"])
def test_a_deprecated_call_from_textfit_is_an_error(module: str) -> None:
    with pytest.raises(FutureWarning, match="deprecated"):
        _caller_in(module)()


def test_a_deprecated_call_inside_a_library_stays_a_warning() -> None:
    with warnings.catch_warnings(record=True) as seen:  # records; the filters stay pytest's
        _caller_in("transformers.trainer")()
    assert [str(warning.message) for warning in seen] == ["old_api() is deprecated"]
