"""The errors textfit raises for problems a user can cause and fix."""

from __future__ import annotations


class TextfitError(Exception):
    """A problem the user can fix: a message saying what is wrong, and a hint saying how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


class ConfigError(TextfitError):
    """A setting is missing, misspelt or out of range."""


class DataError(TextfitError):
    """An input table cannot be read, or its rows are not usable."""


class ModelError(TextfitError):
    """A model cannot be found, downloaded or loaded."""


class HubError(TextfitError):
    """A run cannot be pushed to the Hugging Face Hub: offline, unreachable, or refused by it."""


def list_problems(problems: list[str], limit: int = 10) -> str:
    """Join problem descriptions into one line: the first `limit`, then 'and N more'."""
    shown = ", ".join(problems[:limit])
    if len(problems) > limit:
        shown += f", and {len(problems) - limit} more"
    return shown
