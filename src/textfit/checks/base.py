"""What every check shares: Check, CheckReport and how it prints, the thresholds, the imbalance check.

The thresholds (IMBALANCE_RATIO, RARE_CLASS_ROWS, ...) are the constants below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from textfit.data.examples import Examples
from textfit.data.splits import Splits
from textfit.data.tables import counted
from textfit.data.tasks import Task
from textfit.errors import DataError

Status = Literal["pass", "warn", "fail"]

IMBALANCE_RATIO = 10.0  # the largest class this many times the smallest, or more: warn
RARE_CLASS_ROWS = 10  # a class with fewer training rows than this: warn
FEW_EXAMPLES_ROWS = 50  # the smallest class with fewer training rows: advice at train start
TRUNCATED_SHARE = 0.01  # more than this share of the training texts over max_length: warn
LENGTH_LIMIT = 8192  # check_data counts tokens up to this (the largest model.max_length)
SHOWN = 5  # labels, or repeated, overlapping or conflicting texts, listed as examples
GROUPS_SHOWN = 20  # groups listed with their label counts
TEXT_SHOWN = 60  # characters of a text shown in an example


@dataclass
class Check:
    """The outcome of one check.

    Attributes:
        name: what was checked: columns, rows, empty, labels, imbalance, duplicates, overlap,
            conflicts, length, groups (and read, split for files that could not be loaded).
        status: pass, warn or fail.
        summary: one line.
        details: further lines (counts per file, label or group; examples with their rows).
        data: the figures, JSON-able.
        hint: how to fix a warning or a failure.
    """

    name: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None


@dataclass
class CheckReport:
    """The checks of one set of tables, in the order they ran, and the task of their labels.

    Attributes:
        checks: the checks.
        task: the task of the labels; None when the labels could not be read.
        label_delimiter: what joins the labels of a multi-label cell (None: JSON lists).
        task_detected: the task was told from the labels (model.task auto), not given.
    """

    checks: list[Check]
    task: Task | None = None
    label_delimiter: str | None = None
    task_detected: bool | None = None

    def task_line(self) -> str | None:
        """'task: multi-label (detected from the labels; labels joined by '|')'; None without a task."""
        if self.task is None:
            return None
        how = []
        if self.task_detected is not None:
            how.append("detected from the labels" if self.task_detected else "given")
        if self.task.has_lists:
            how.append(f"labels joined by {self.label_delimiter!r}" if self.label_delimiter else "JSON lists")
        return f"task: {self.task.title}" + (f" ({'; '.join(how)})" if how else "")

    @property
    def failed(self) -> list[Check]:
        """The failed checks (empty when none failed)."""
        return [check for check in self.checks if check.status == "fail"]

    @property
    def warnings(self) -> list[str]:
        """The summaries of the checks that warned."""
        return [check.summary for check in self.checks if check.status == "warn"]

    def tally(self) -> str:
        """'8 passed, 2 warnings, 0 failures'."""
        passed = sum(check.status == "pass" for check in self.checks)
        warned, failed = len(self.warnings), len(self.failed)
        return (
            f"{passed} passed, {counted(warned, 'warning', 'warnings')}, "
            f"{counted(failed, 'failure', 'failures')}"
        )

    def raise_on_failure(self) -> None:
        """Raise the first failure as a DataError naming the check.

        Raises:
            DataError: a check failed.
        """
        if self.failed:
            first = self.failed[0]
            raise DataError(f"data check '{first.name}' failed: {first.summary}", hint=first.hint)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able dicts: ok, the counts, and every check."""
        return {
            "ok": not self.failed,
            "passed": sum(check.status == "pass" for check in self.checks),
            "warnings": len(self.warnings),
            "failures": len(self.failed),
            "task": None if self.task is None else self.task.name,
            "label_delimiter": self.label_delimiter,
            "task_detected": self.task_detected,
            "checks": [asdict(check) for check in self.checks],
        }


def format_checks(report: CheckReport, quiet: bool = False) -> str:
    """One line per check ('PASS  columns  ...'), details indented below; `quiet` leaves out passes.

    The task (when known) and the tally close the text.
    """
    width = max((len(check.name) for check in report.checks), default=0)
    indent = " " * (6 + width + 2)
    lines = []
    for check in report.checks:
        if quiet and check.status == "pass":
            continue
        lines.append(f"{check.status.upper()}  {check.name:<{width}}  {check.summary}")
        lines += [indent + line for line in check.details]
        if check.hint and check.status != "pass":
            lines.append(f"{indent}hint: {check.hint}")
    task = report.task_line()
    lines += ["", *([task] if task else []), report.tally()]
    return "\n".join(lines)


def imbalance_check(counts: dict[str, int], kind: str = "class") -> Check:
    """How much larger the largest class (or label, `kind`) is than the smallest; the rare ones."""
    plural = "classes" if kind == "class" else f"{kind}s"
    largest, smallest = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
    ratio = counts[largest] / counts[smallest]
    rare = sorted((name for name, n in counts.items() if n < RARE_CLASS_ROWS), key=counts.__getitem__)
    data = {"ratio": round(ratio, 3), "largest": largest, "smallest": smallest, "rare": rare}
    problems = []
    if ratio >= IMBALANCE_RATIO:
        problems.append(
            f"strong imbalance: {largest!r} has {ratio:.1f}x the training rows of {smallest!r} "
            f"({counts[largest]} against {counts[smallest]})"
        )
    if rare:
        listed = ", ".join(f"{name!r} ({counts[name]})" for name in rare[:10])
        problems.append(
            f"{counted(len(rare), f'{kind} has', f'{plural} have')} fewer than {RARE_CLASS_ROWS} "
            f"training rows: {listed}" + (", ..." if len(rare) > 10 else "")
        )
    if problems:
        return Check(
            "imbalance",
            "warn",
            "; ".join(problems),
            data=data,
            hint=f"add rows of the small {plural} if you can; judge the model by macro-F1, not accuracy",
        )
    if ratio == 1:
        return Check("imbalance", "pass", f"every {kind} has {counts[largest]} training rows", data=data)
    summary = (
        f"largest {kind} {largest!r} has {ratio:.1f}x the training rows of the smallest, {smallest!r} "
        f"({counts[largest]} against {counts[smallest]})"
    )
    return Check("imbalance", "pass", summary, data=data)


def split_files(splits: Splits) -> list[tuple[str, Examples]]:
    """(role, examples) per file: the validation rows only when they come from a file of their own."""
    files = [("training", splits.train)]
    if splits.validation.data is not splits.train.data:
        files.append(("validation", splits.validation))
    if splits.test is not None:
        files.append(("test", splits.test))
    return files


def short_text(text: str) -> str:
    """A text as an example shows it: quoted, cut at TEXT_SHOWN characters."""
    return repr(text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 3] + "...")
