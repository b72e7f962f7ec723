"""The labels check of single-label tables: rows per class, spellings of one label, numbers beside words.

Also the advice at the start of training when the smallest class has few rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from textfit.checks.base import FEW_EXAMPLES_ROWS, SHOWN, Check, split_files
from textfit.data.examples import Examples
from textfit.data.labels import LabelSet, is_number_label, label_map_flag, spelling_key
from textfit.data.splits import Splits
from textfit.data.tables import counted


def labels_check(splits: Splits) -> Check:
    """Rows per class, with warnings: classes without validation rows, mixed or variant spellings."""
    counts = splits.train.label_counts()
    names = LabelSet.from_labels(counts).names
    validation = splits.validation.label_counts()
    shown = ", ".join(f"{name} {counts[name]}" for name in names[:SHOWN])
    summary = f"{len(names)} labels: {shown}" + (", ..." if len(names) > SHOWN else "")
    total = sum(counts.values())
    details = [
        f"{name}: {counts[name]} training ({counts[name] / total:.1%}), {validation.get(name, 0)} validation"
        for name in names
    ]
    data: dict[str, Any] = {"training": {name: counts[name] for name in names}, "validation": validation}
    problems = []  # (summary, hint), each a warning
    missing = [name for name in names if name not in validation]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        problems.append(
            (
                f"{counted(len(missing), 'label has', 'labels have')} no validation rows: {listed}",
                "add validation rows of these labels: their validation scores cannot be measured",
            )
        )
    mixed = _mixed_labels(splits.train)
    if mixed:
        problems.append((mixed, "if a number stands for a word, use one or the other in every row"))
    variants = _label_variants(splits)
    if variants:
        data["variants"] = variants[2]
        problems.append(variants[:2])
    stripped = _stripped_labels(splits)
    if stripped:
        data["stripped"] = stripped[1]
        problems.append((stripped[0], "nothing to do unless the spaces mean something (then rename)"))
    if problems:
        return Check(
            "labels",
            "warn",
            "; ".join(problem for problem, _ in problems),
            details,
            data,
            hint="; ".join(hint for _, hint in problems),
        )
    return Check("labels", "pass", summary, details, data)


def _labelled_files(splits: Splits) -> list[Examples]:
    """The labelled rows of each file: all of the training file, where validation is a split of it."""
    return [replace(examples, selection=None) for _, examples in split_files(splits)]


def _label_variants(splits: Splits) -> tuple[str, str, list[dict[str, int]]] | None:
    """A warning (summary, hint, the groups) for labels that differ only in case, spacing or number format.

    'Spam' beside 'spam', '1' beside '1.0': each is a class of its own. Counted over the rows of
    every file; the hint's --label-map reads every spelling as the most frequent one.
    """
    counts: Counter[str] = Counter()
    for examples in _labelled_files(splits):
        counts.update(examples.label_counts())
    by_key: dict[str, list[str]] = {}
    for name in LabelSet.from_labels(counts).names:
        by_key.setdefault(spelling_key(name), []).append(name)
    groups = [names for names in by_key.values() if len(names) > 1]
    if not groups:
        return None
    renames: dict[str, str] = {}
    for names in groups:
        most = max(names, key=lambda name: counts[name])  # the first of the most frequent, in label order
        renames |= {name: most for name in names if name != most}
    shown = "; ".join(
        " and ".join(f"{name!r} ({counts[name]})" for name in names) for names in groups[:SHOWN]
    ) + (f"; and {len(groups) - SHOWN} more" if len(groups) > SHOWN else "")
    flag = label_map_flag(renames)
    summary = (
        f"labels that differ only in case, spacing or number format: {shown} (rows per label); "
        f"each is a class of its own: to merge them, {flag}"
    )
    hint = f"{flag} reads each as its most frequent spelling; or fix the labels in the file"
    return summary, hint, [{name: counts[name] for name in names} for names in groups]


def _stripped_labels(splits: Splits) -> tuple[str, dict[str, dict[str, int]]] | None:
    """A warning, and the cells per file, for labels read without surrounding spaces ('spam ' as 'spam')."""
    found = {
        str(examples.source): examples.stripped for examples in _labelled_files(splits) if examples.stripped
    }
    if not found:
        return None
    parts = []
    for source, cells in found.items():
        shown = ", ".join(f"{cell!r} ({n})" for cell, n in list(cells.items())[:SHOWN])
        shown += f", and {len(cells) - SHOWN} more" if len(cells) > SHOWN else ""
        parts.append(
            f"{source}: {counted(sum(cells.values()), 'label cell', 'label cells')} had surrounding spaces "
            f"removed, each read as the label without them: {shown} (rows per cell)"
        )
    return "; ".join(parts), found


def _mixed_labels(train: Examples) -> str | None:
    """A warning when some labels are numbers and others words ('1' beside 'positive')."""
    counts = train.label_counts()
    names = LabelSet.from_labels(counts).names
    numbers = [name for name in names if is_number_label(name)]
    words = [name for name in names if not is_number_label(name)]
    if not numbers or not words:
        return None

    def listed(names: list[str]) -> str:
        shown = ", ".join(f"{name!r} ({counts[name]})" for name in names[:SHOWN])
        return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")

    return (
        f"{train.source}: the labels mix numbers and words: {listed(numbers)} beside "
        f"{listed(words)} (rows per label); if a number stands for a word, use one or the other"
    )


def few_examples_advice(counts: dict[str, int], epochs: float, batch_size: int, model: str) -> str | None:
    """A warning with what to expect and what to change when the smallest class has few training rows.

    Args:
        counts: training rows per label.
        epochs: the run's epochs (more epochs are suggested below 10).
        batch_size: the run's batch size (a smaller one is suggested above 16).
        model: the run's model name (mpnet is suggested for minilm).

    Returns:
        The warning, or None when every class has FEW_EXAMPLES_ROWS training rows or more.
    """
    if not counts or min(counts.values()) >= FEW_EXAMPLES_ROWS:
        return None
    smallest = min(counts, key=counts.__getitem__)
    steps = [
        flag for flag, needed in (("--epochs 20", epochs < 10), ("--batch-size 8", batch_size > 16)) if needed
    ]
    advice = (
        [f"train longer on smaller batches ({' '.join(steps)}: more updates from the same rows)"]
        if steps
        else []
    )
    advice += ["a larger model (--model mpnet) may help"] if model == "minilm" else []
    advice += ["keep the learning rate (a larger one often diverges)", "label more rows if you can"]
    text = "; ".join(advice)
    return (
        f"few labelled examples: {smallest!r} has {counts[smallest]} training rows (under "
        f"{FEW_EXAMPLES_ROWS} per class); expect lower scores that change from seed to seed, and "
        f"validation scores on few rows that say little. {text[0].upper()}{text[1:]}"
    )
