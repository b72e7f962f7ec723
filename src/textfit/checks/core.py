"""Pre-flight checks of the labelled tables: columns, rows, labels, repeats, overlap, lengths, groups.

`check_splits` looks over splits already loaded (`train()` runs it before training); `check_data`
reads the files itself and turns what `load_splits` would raise into failed checks. Everything is
counted in Arrow and numpy: a million rows never become a million Python objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from textfit.config.schema import DataConfig, RunConfig
from textfit.data.examples import (
    Columns,
    EmptyRowsError,
    Examples,
    LabelSet,
    Splits,
    check_classes,
    check_label_map,
    find_columns,
    find_group_column,
    is_number_label,
    label_map_flag,
    read_table,
    spelling_key,
    stratified_split,
    table_examples,
    with_pair_columns,
)
from textfit.data.tables import Table, counted
from textfit.errors import DataError, ModelError, TextfitError

__all__ = ["Check", "CheckReport", "check_data", "check_splits", "format_checks"]

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
        task: single_label, multi_label or regression; None when the labels could not be read.
        label_delimiter: what joins the labels of a multi-label cell (None: JSON lists).
        task_detected: the task was told from the labels (model.task auto), not given.
    """

    checks: list[Check]
    task: str | None = None
    label_delimiter: str | None = None
    task_detected: bool | None = None

    def task_line(self) -> str | None:
        """'task: multi-label (detected from the labels; labels joined by '|')'; None without a task."""
        if self.task is None:
            return None
        how = []
        if self.task_detected is not None:
            how.append("detected from the labels" if self.task_detected else "given")
        if self.task == "multi_label":
            how.append(f"labels joined by {self.label_delimiter!r}" if self.label_delimiter else "JSON lists")
        return f"task: {self.task.replace('_', '-')}" + (f" ({'; '.join(how)})" if how else "")

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
            "task": self.task,
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


# ---------------------------------------------------------------- reading the files


def check_data(cfg: RunConfig, tokenizer: Any = None) -> CheckReport:
    """Read the tables of cfg.data and check them, without training.

    What `load_splits` would raise (an unreadable file, a missing column, empty texts or labels
    without drop_invalid, a single class, a split that cannot be stratified, validation or test
    labels the training file lacks) becomes a failed check with the message and its hint. Rows with
    an empty text or label are left out of the other checks, so that one run lists every problem.

    Args:
        cfg: the run configuration: its data section, model (whose tokenizer counts the tokens,
            loaded when `tokenizer` is None), max_length, and the seed of the validation split.
        tokenizer: a tokenizer to count tokens with, instead of cfg.model's.

    Returns:
        The report; `report.failed` lists the failures.
    """
    data = cfg.data
    hub: dict[str, Table] = {}  # the splits of a data set, by role
    if data.dataset is not None:
        from textfit.data.hub import load_dataset_tables

        try:
            tables = load_dataset_tables(data)
        except DataError as err:
            return CheckReport([_failure("read", err)])
        data, hub = tables.data, tables.tables
    elif data.train_file is None:
        raise DataError("no training file given", hint="textfit check data.csv (or --dataset NAME)")
    early: list[Check] = []  # failures found while loading
    loaded = _read_file(hub["train"] if hub else data.train_file, data, early, training=True)
    if loaded is None:
        return CheckReport(early)
    examples, columns = loaded
    if columns["text_pair"] and not data.text_pair_column:  # found (see with_pair_columns)
        data = data.model_copy(
            update={"text_column": columns["text"], "text_pair_column": columns["text_pair"]}
        )
    from textfit.data.tasks import detect_task, random_split, targets, task_labels

    try:
        task, delimiter = detect_task(
            list(examples.label_counts()), cfg.model.task, data.label_delimiter, examples.source
        )
        if task == "single_label":
            check_classes(examples)
    except TextfitError as err:
        return CheckReport([*early, _failure("labels", err)])

    def known(checks: list[Check]) -> CheckReport:  # the report, with the task of the labels
        return CheckReport(checks, task, delimiter, cfg.model.task == "auto")

    validation_source = data.validation_file or hub.get("validation")
    if validation_source is None:
        split = stratified_split if task == "single_label" else random_split
        try:
            train, validation = split(examples, data.validation_split, cfg.train.seed)
        except DataError as err:
            return known([*early, _failure("split", err)])
        train.dropped = examples.dropped
    else:
        read = _read_file(validation_source, data, early, training=False)
        if read is None:
            return known(early)
        train, validation = examples, read[0]
    test = None
    test_source = data.test_file or hub.get("test")
    if test_source is not None:
        read = _read_file(test_source, data, early, training=False)
        test = None if read is None else read[0]
    try:
        check_label_map(
            data.label_map, (examples, validation if validation_source is not None else None, test)
        )
    except DataError as err:
        early.append(_failure("labels", err))
    labels = task_labels(task, train, delimiter, columns["label"] or "label")
    for evaluated in (validation, test):
        try:
            if evaluated is not None:
                targets(task, evaluated, labels, delimiter)
        except DataError as err:
            early.append(_failure("labels", err))
    if tokenizer is None:
        try:
            from textfit.modeling import load_tokenizer, resolve_model

            tokenizer = load_tokenizer(resolve_model(cfg.model.name), cfg.model)
        except ModelError as err:
            early.append(_failure("length", err))
    splits = Splits(train, validation, columns, test, task, delimiter)
    later = check_splits(splits, tokenizer, cfg.model.max_length, group_column=data.group_column)
    return known(_merge(early, later.checks))


def _failure(name: str, err: TextfitError) -> Check:
    return Check(name, "fail", err.message, hint=err.hint)


def _read_file(
    path: Any, cfg: DataConfig, early: list[Check], training: bool
) -> tuple[Examples, Columns] | None:
    """The examples of one file (or split); None, with a failed check in `early`, if it cannot be read.

    A column of values that are not texts fails the columns check; empty rows the empty check.
    """
    step = "read"
    try:
        table = path if isinstance(path, Table) else read_table(path, cfg.format, cfg.encoding, cfg.delimiter)
        step = "columns"
        cfg = with_pair_columns(cfg, table) if training else cfg
        columns = find_columns(table, cfg)
        group = find_group_column(table, cfg, required=training)
        try:
            examples = table_examples(
                table, columns, cfg.drop_invalid, group_column=group, label_map=cfg.label_map
            )
        except EmptyRowsError as err:
            step = "empty"
            if cfg.drop_invalid:  # no usable row left
                raise
            early.append(_failure("empty", err))
            early[-1].details.append("the other checks ran without these rows")
            examples = table_examples(table, columns, True, group_column=group, label_map=cfg.label_map)
        return examples, columns
    except DataError as err:
        early.append(_failure(step, err))
        return None


def _merge(early: list[Check], later: list[Check]) -> list[Check]:
    """The failures found while loading, each before the check of its name (read, split: first)."""
    names = {check.name for check in later}
    merged = [check for check in early if check.name not in names]
    for check in later:
        same = [failure for failure in early if failure.name == check.name]
        merged += same
        if not (same and check.name == "empty"):  # the failure names the rows; the count adds nothing
            merged.append(check)
    return merged


# ---------------------------------------------------------------- the checks


def check_splits(
    splits: Splits,
    tokenizer: Any = None,
    max_length: int = 256,
    *,
    group_column: str | None = None,
    lengths: NDArray[np.int64] | None = None,
    lengths_cut: bool = False,
) -> CheckReport:
    """Check splits already loaded (see the module constants for the thresholds).

    Args:
        splits: from `load_splits`.
        tokenizer: counts the tokens of the training texts (up to LENGTH_LIMIT); None, and no
            `lengths`: no length check.
        max_length: tokens kept per text in training.
        group_column: the name of the examples' "group" column, for the messages.
        lengths: the token count of each training example, instead of counting with `tokenizer`.
        lengths_cut: `lengths` were cut at max_length (a tokenized dataset's `length` column).

    Returns:
        The report, in the order: columns, rows, empty, labels, imbalance, duplicates, overlap,
        conflicts, length, groups. Multi-label tables count each label of a list (and the labels
        per row); regression tables have a `target` check (the values' spread) in place of labels
        and imbalance.
    """
    from textfit.checks import tasks as checks_tasks  # builds on this module

    train = splits.train
    train_keys = _distinct_keys(train)  # shared by the duplicates and the overlap check
    if splits.task == "multi_label":
        classes = checks_tasks.multi_label_checks(splits)
    elif splits.task == "regression":
        classes = [checks_tasks.target_check(splits)]
    else:
        classes = [_labels(splits), imbalance_check(train.label_counts())]
    checks = [
        _columns(splits, group_column),
        _rows(splits),
        _empty(splits),
        *classes,
        _duplicates(train, train_keys),
        _overlap(splits, train_keys),
        _conflicts(splits, checks_tasks.label_key(splits.task, splits.label_delimiter)),
    ]
    if lengths is None and tokenizer is not None:
        from textfit.tokenization import count_tokens

        lengths, lengths_cut = count_tokens(train, tokenizer, LENGTH_LIMIT), False
    if lengths is not None:
        checks.append(_length(lengths, max_length, lengths_cut))
    if "group" in train.data.column_names and splits.task != "single_label":
        checks.append(
            checks_tasks.groups_check(train, group_column or "group", splits.task, splits.label_delimiter)
        )
    elif "group" in train.data.column_names:
        checks.append(_groups(train, group_column or "group"))
    return CheckReport(checks, splits.task, splits.label_delimiter)


def _files(splits: Splits) -> list[tuple[str, Examples]]:
    """(role, examples) per file: the validation rows only when they come from a file of their own."""
    files = [("training", splits.train)]
    if splits.validation.data is not splits.train.data:
        files.append(("validation", splits.validation))
    if splits.test is not None:
        files.append(("test", splits.test))
    return files


def _short(text: str) -> str:
    return repr(text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 3] + "...")


def _columns(splits: Splits, group_column: str | None) -> Check:
    columns = splits.columns
    summary = f"text {columns['text']!r}"
    if columns["text_pair"]:
        summary += f", text pair {columns['text_pair']!r}"
    summary += f", label {columns['label']!r}"
    if "group" in splits.train.data.column_names:
        summary += f", group {group_column!r}"
    table = splits.train.table
    used = {*columns.values(), group_column}
    unused = [name for name in table.names if name not in used] if table is not None else []
    details = [f"not used: {', '.join(repr(name) for name in unused)}"] if unused else []
    return Check("columns", "pass", summary, details, {**columns, "group": group_column, "unused": unused})


def _rows(splits: Splits) -> Check:
    details, figures = [], {}
    for role, examples in _files(splits):
        used = examples.data.num_rows
        read = len(examples.table) if examples.table is not None else used + examples.dropped
        line = f"{examples.source.name}: {read} read, {used} used"
        line += f", {examples.dropped} dropped" if examples.dropped else ""
        if role == "training" and splits.validation.data is splits.train.data:
            line += f"; {len(splits.train)} for training, {len(splits.validation)} held out for validation"
        details.append(line)
        figures[role] = {
            "file": str(examples.source),
            "read": read,
            "used": used,
            "dropped": examples.dropped,
        }
    sizes = {"training": len(splits.train), "validation": len(splits.validation)}
    if splits.test is not None:
        sizes["test"] = len(splits.test)
    summary = ", ".join(f"{n} {role}" for role, n in sizes.items()) + " rows"
    return Check("rows", "pass", summary, details, {"files": figures, **sizes})


def _empty(splits: Splits) -> Check:
    dropped = {examples.source.name: examples.dropped for _, examples in _files(splits) if examples.dropped}
    total = sum(dropped.values())
    if not total:
        return Check("empty", "pass", "no empty texts or labels", data={"dropped": 0})
    return Check(
        "empty",
        "warn",
        f"{counted(total, 'row', 'rows')} with an empty text or label dropped (--drop-invalid)",
        [f"{name}: {n}" for name, n in dropped.items()],
        {"dropped": total, "files": dropped},
        hint="fill in or delete these rows; without --drop-invalid the error lists each of them",
    )


def _labels(splits: Splits) -> Check:
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
    return [replace(examples, selection=None) for _, examples in _files(splits)]


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


def _keys(examples: Examples) -> pa.Table:
    """The text (and second text) of each example: what makes two rows the same."""
    roles = [role for role in ("text", "text_pair") if role in examples.data.column_names]
    return pa.table({role: examples.column(role) for role in roles})


def _shown_key(row: dict[str, Any]) -> str:
    return _short(row["text"]) + (f" / {_short(row['text_pair'])}" if "text_pair" in row else "")


def _distinct_keys(examples: Examples) -> pa.Table:
    """The distinct keys of the examples, with how many examples have each ("text_count")."""
    keys = _keys(examples)
    return keys.group_by(keys.column_names).aggregate([("text", "count")])


def _duplicates(train: Examples, counts: pa.Table) -> Check:
    repeats = len(train) - counts.num_rows
    if not repeats:
        return Check("duplicates", "pass", "no repeated texts in the training data", data={"repeats": 0})
    top = counts.sort_by([("text_count", "descending")]).slice(0, SHOWN).to_pylist()
    return Check(
        "duplicates",
        "warn",
        f"{train.source}: {counted(repeats, 'training row repeats', 'training rows repeat')} "
        "an earlier row's text; repeats weigh more in training and can inflate validation scores",
        [f"{row['text_count']}x {_shown_key(row)}" for row in top if row["text_count"] > 1],
        {"repeats": repeats, "distinct": counts.num_rows},
        hint="deduplicate the training file, unless the repeats are meant to weigh more",
    )


def _overlap(splits: Splits, train_counts: pa.Table) -> Check:
    train_keys = train_counts.drop_columns(["text_count"])
    found: dict[str, pa.Table] = {}
    for role, examples in (("validation", splits.validation), ("test", splits.test)):
        if examples is not None:
            keys = _keys(examples).group_by(train_keys.column_names).aggregate([])
            found[role] = keys.join(train_keys, keys=keys.column_names, join_type="left semi")
    counts = {role: table.num_rows for role, table in found.items()}
    overlapping = [role for role, n in counts.items() if n]
    if not overlapping:
        which = " or test" if "test" in counts else ""
        return Check(
            "overlap", "pass", f"no validation{which} text appears in the training data", data=counts
        )
    if len(overlapping) == 1:
        role, n = overlapping[0], counts[overlapping[0]]
        summary = (
            f"{counted(n, f'{role} text also appears', f'{role} texts also appear')} in the training data; "
            f"{role} scores will be optimistic (deduplicate, or split by group)"
        )
    else:
        summary = (
            f"{counted(counts['validation'], 'validation text', 'validation texts')} and "
            f"{counted(counts['test'], 'test text', 'test texts')} also appear in the training data; "
            "their scores will be optimistic (deduplicate, or split by group)"
        )
    details = [
        f"{role}: " + ", ".join(_shown_key(row) for row in found[role].slice(0, SHOWN).to_pylist())
        for role in overlapping
    ]
    hint = "remove these texts from the training file (or from the evaluation files)"
    return Check("overlap", "warn", summary, details, counts, hint=hint)


def _conflicts(splits: Splits, key: Callable[[str], str] = str) -> Check:
    """The same text (and second text) with different labels, across all the labelled rows.

    `key` makes label cells comparable: two lists of the same labels, or two spellings of a number,
    are the same label.
    """
    # The parts by file: 0 training (all of it, where validation is a split of it), 1 validation, 2 test.
    if splits.validation.data is splits.train.data:  # a split: the whole file, without copying texts
        parts = [(0, replace(splits.train, selection=None))]
    else:
        parts = [(0, splits.train), (1, splits.validation)]
    parts += [(2, splits.test)] if splits.test is not None else []
    in_file = dict(parts)
    names = sorted({key(name) for _, part in parts for name in part.label_names})
    code_of = {name: code for code, name in enumerate(names)}
    tables = []
    for file, part in parts:
        remap = np.asarray([code_of[key(name)] for name in part.label_names], dtype=np.int32)
        keys = _keys(part)
        # Where each row is: its file in the high bits, its row in the file below (so min is first).
        where = np.asarray(part.column("row").to_numpy(), dtype=np.int64) + (file << 40)
        tables.append(
            keys.append_column("label", pa.array(remap[part.codes])).append_column("at", pa.array(where))
        )
    rows = pa.concat_tables(tables)
    roles = [role for role in ("text", "text_pair") if role in rows.column_names]
    by_label = rows.group_by([*roles, "label"]).aggregate([("at", "min"), ("at", "count")])
    per_key = by_label.group_by(roles).aggregate([("label", "count"), ("at_min", "min")])
    conflicting = per_key.filter(pc.greater(per_key["label_count"], 1))
    if not conflicting.num_rows:
        return Check("conflicts", "pass", "no text appears with different labels", data={"texts": 0})
    involved = by_label.join(conflicting.select(roles), keys=roles, join_type="left semi")
    n_rows = pc.sum(involved["at_count"]).as_py()
    first = conflicting.sort_by([("at_min_min", "ascending")]).slice(0, SHOWN).select(roles)
    shown = by_label.join(first, keys=roles, join_type="left semi").sort_by([("at_min", "ascending")])
    examples: dict[str, list[str]] = {}
    for row in shown.to_pylist():
        part = in_file[row["at_min"] >> 40]
        at = row["at_min"] & ((1 << 40) - 1)
        place = f"{part.source.name} " + (part.table.where(at) if part.table is not None else f"row {at + 1}")
        more = f" and {row['at_count'] - 1} more" if row["at_count"] > 1 else ""
        examples.setdefault(_shown_key(row), []).append(f"{names[row['label']]!r} at {place}{more}")
    return Check(
        "conflicts",
        "warn",
        f"{counted(conflicting.num_rows, 'text appears', 'texts appear')} with different labels "
        f"({n_rows} rows); the model cannot fit both",
        [f"{key}: {', '.join(places)}" for key, places in examples.items()],
        {"texts": conflicting.num_rows, "rows": n_rows},
        hint="give each text one label (fix or delete the wrong rows)",
    )


def _length(lengths: NDArray[np.int64], max_length: int, cut: bool) -> Check:
    over = int(np.count_nonzero(lengths >= max_length if cut else lengths > max_length))
    share = over / max(len(lengths), 1)
    longest = int(lengths.max()) if len(lengths) else 0
    median, p95 = (float(np.percentile(lengths, q)) for q in (50, 95)) if len(lengths) else (0.0, 0.0)
    counted_up_to = max_length if cut else LENGTH_LIMIT

    def shown(figure: float) -> str:  # a count that reached the cap: the text may be longer
        return f"at least {counted_up_to:,}" if figure >= counted_up_to else f"{figure:,.0f}"

    figures = f"median {shown(median)}, 95th percentile {shown(p95)}, longest {shown(longest)} tokens"
    data = {
        "median": median,
        "p95": p95,
        "max": longest,
        "max_length": max_length,
        "over_max_length": over,
        "share_over": round(share, 6),
        "counted_up_to": counted_up_to,
    }
    if share > TRUNCATED_SHARE:
        return Check(
            "length",
            "warn",
            f"{share:.1%} of training texts are longer than {max_length} tokens and will be cut",
            [figures],
            data,
            hint="a larger --max-length keeps more of each text (training gets slower)",
        )
    over_text = "none" if not over else f"{over} ({'<0.1%' if share < 0.001 else f'{share:.1%}'})"
    return Check("length", "pass", f"{figures}; {over_text} longer than {max_length}", data=data)


def _group_name(value: str) -> str:
    return value or "(empty)"


def _groups(train: Examples, column: str) -> Check:
    label_names = train.label_names
    groups = pc.fill_null(train.column("group"), "")  # an empty cell is a group of its own (joins skip nulls)
    rows = pa.table({"group": groups, "label": pa.array(train.codes)})
    per_group = rows.group_by("group").aggregate([("label", "count"), ("label", "count_distinct")])
    per_group = per_group.sort_by([("label_count", "descending"), ("group", "ascending")])
    n_labels = len(np.unique(train.codes))
    lacking = per_group.filter(pc.less(per_group["label_count_distinct"], n_labels))
    listed = pa.concat_tables([per_group.slice(0, GROUPS_SHOWN), lacking.slice(0, SHOWN)])
    cells = rows.join(listed.select(["group"]), keys="group", join_type="left semi")
    counts: dict[str, dict[str, int]] = {}
    for cell in cells.group_by(["group", "label"]).aggregate([("label", "count")]).to_pylist():
        counts.setdefault(cell["group"], {})[label_names[cell["label"]]] = cell["label_count"]
    order = LabelSet.from_labels(label_names).names

    def missing(group: str) -> list[str]:
        return [name for name in order if name not in counts[group]]

    details = []
    for row in per_group.slice(0, GROUPS_SHOWN).to_pylist():
        group = row["group"]
        shown = ", ".join(f"{name} {counts[group][name]}" for name in order if name in counts[group])
        gaps = "".join(f", no {name!r}" for name in missing(group))
        details.append(f"{_group_name(group)}: {counted(row['label_count'], 'row', 'rows')} ({shown}){gaps}")
    if per_group.num_rows > GROUPS_SHOWN:
        details.append(f"and {per_group.num_rows - GROUPS_SHOWN} more groups")
    data = {
        "column": column,
        "groups": per_group.num_rows,
        "rows": {
            _group_name(row["group"]): row["label_count"]
            for row in per_group.slice(0, GROUPS_SHOWN).to_pylist()
        },
        "labels": {_group_name(group): labels for group, labels in counts.items()},
        "lacking_a_label": lacking.num_rows,
    }
    if lacking.num_rows:
        gaps = "; ".join(
            f"{_group_name(row['group'])!r} has no " + ", ".join(repr(name) for name in missing(row["group"]))
            for row in lacking.slice(0, SHOWN).to_pylist()
        )
        return Check(
            "groups",
            "warn",
            f"{counted(lacking.num_rows, 'group lacks', 'groups lack')} a label in training: {gaps}"
            + ("; ..." if lacking.num_rows > SHOWN else ""),
            details,
            data,
            hint=f"add rows of the missing labels to these {column!r} groups, or expect weak scores there",
        )
    top = ", ".join(
        f"{_group_name(row['group'])} {row['label_count']}" for row in per_group.slice(0, SHOWN).to_pylist()
    )
    more = ", ..." if per_group.num_rows > SHOWN else ""
    summary = (
        f"{counted(per_group.num_rows, 'group', 'groups')} in {column!r}, each with every label: {top}{more}"
    )
    return Check("groups", "pass", summary, details, data)


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
