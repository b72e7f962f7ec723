"""A metrics report as the terminal shows it: the overall table, then the per-group one if there is one."""

from __future__ import annotations

from typing import Any

from textfit.metrics import format_groups, format_report


def metrics_summary(metrics: dict[str, Any], title: str) -> str:
    """format_report's table, and with data.group_column each group's metrics, weakest first."""
    lines = [format_report(metrics, title)]
    if metrics.get("groups"):
        column = metrics.get("group_column") or "group"
        lines += [f"\n  per {column}, weakest macro-F1 first:", format_groups(metrics["groups"], column)]
    return "\n".join(lines)
