"""What to do after `textfit check`: fix the first failure and check again, or train."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textfit.checks.base import CheckReport


def next_step(report: CheckReport, command_args: str) -> str:
    """The `next:` line; command_args are the checked files and flags, as a shell would take them."""
    if report.failed:
        return f"next: {report.failed[0].hint or 'fix the failures above'}; then textfit check {command_args}"
    return f"next: textfit train {command_args}"  # train runs the same checks, and reports per group
