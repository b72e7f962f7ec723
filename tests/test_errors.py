"""TextfitError and its subclasses: the message, the hint, and how problem lists are cut."""

from __future__ import annotations

import pytest

from textfit.errors import ConfigError, DataError, ModelError, TextfitError, list_problems


def test_str_holds_message_and_hint() -> None:
    err = DataError("reviews.csv has no column 'label'", hint="pass --label-column sentiment")
    assert str(err) == "reviews.csv has no column 'label'\nhint: pass --label-column sentiment"
    assert err.message == "reviews.csv has no column 'label'"
    assert err.hint == "pass --label-column sentiment"


def test_str_without_hint_is_the_message() -> None:
    err = ModelError("cannot load model 'x'")
    assert str(err) == "cannot load model 'x'"
    assert err.hint is None


@pytest.mark.parametrize("error_type", [ConfigError, DataError, ModelError])
def test_subclasses_are_textfit_errors(error_type: type[TextfitError]) -> None:
    with pytest.raises(TextfitError, match="bad setting") as caught:
        raise error_type("bad setting", hint="fix it")
    assert caught.value.hint == "fix it"


def test_list_problems_shows_all_up_to_the_limit() -> None:
    problems = [f"row {i}" for i in range(1, 11)]
    assert list_problems(problems) == ", ".join(problems)
    assert "more" not in list_problems(problems)


def test_list_problems_cuts_after_the_limit() -> None:
    problems = [f"row {i}" for i in range(1, 14)]
    assert list_problems(problems) == ", ".join(problems[:10]) + ", and 3 more"


def test_list_problems_custom_limit() -> None:
    assert list_problems(["a", "b", "c"], limit=1) == "a, and 2 more"
    assert list_problems([]) == ""
