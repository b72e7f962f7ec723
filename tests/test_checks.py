"""The pre-flight checks: each one passing, and warning or failing, on toy tables (tmp_path)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from textfit.checks.base import IMBALANCE_RATIO, RARE_CLASS_ROWS, Check, CheckReport, format_checks
from textfit.checks.run import check_data, check_splits
from textfit.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig
from textfit.data.splits import load_splits
from textfit.errors import DataError

ALL_CHECKS = [
    "columns",
    "rows",
    "empty",
    "labels",
    "imbalance",
    "duplicates",
    "overlap",
    "conflicts",
    "length",
]
OVERLAP = "validation scores will be optimistic (deduplicate, or split by group)"
REPEATS = "repeats weigh more in training and can inflate validation scores"


def rows(per_label: int, labels: tuple[str, ...] = ("neg", "pos"), start: int = 0) -> list[dict[str, Any]]:
    """Distinct texts, per_label of each label, labels interleaved."""
    return [
        {"text": f"{label} review number {i}", "label": label}
        for i in range(start, start + per_label)
        for label in labels
    ]


Checker = Callable[..., CheckReport]


@pytest.fixture
def check(make_csv: Callable[..., Path], tiny_model_dir: Path) -> Checker:
    """check(train_rows, validation=rows, test=rows, max_length=16, **data settings) -> CheckReport."""

    def run(
        train: list[dict[str, Any]],
        validation: list[dict[str, Any]] | None = None,
        test: list[dict[str, Any]] | None = None,
        max_length: int = 16,
        **data: Any,
    ) -> CheckReport:
        files = {"train_file": make_csv("train.csv", train)}
        if validation is not None:
            files["validation_file"] = make_csv("val.csv", validation)
        if test is not None:
            files["test_file"] = make_csv("test.csv", test)
        cfg = RunConfig(
            data=DataConfig(**files, **data),
            model=ModelConfig(name=str(tiny_model_dir), max_length=max_length),
            train=TrainConfig(seed=0),
        )
        return check_data(cfg)

    return run


def named(report: CheckReport, name: str) -> Check:
    (found,) = [check for check in report.checks if check.name == name]
    return found


def statuses(report: CheckReport) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


# ---------------------------------------------------------------- a clean table


def test_a_clean_table_passes_every_check(check: Checker) -> None:
    report = check(rows(20))

    assert [c.name for c in report.checks] == ALL_CHECKS
    assert statuses(report) == dict.fromkeys(ALL_CHECKS, "pass")
    assert not report.failed
    assert report.warnings == []
    assert report.tally() == "9 passed, 0 warnings, 0 failures"
    summaries = {c.name: c.summary for c in report.checks}
    assert summaries == {
        "columns": "text 'text', label 'label'",
        "rows": "36 training, 4 validation rows",
        "empty": "no empty texts or labels",
        "labels": "2 labels: neg 18, pos 18",
        "imbalance": "every class has 18 training rows",
        "duplicates": "no repeated texts in the training data",
        "overlap": "no validation text appears in the training data",
        "conflicts": "no text appears with different labels",
        "length": "median 6, 95th percentile 6, longest 6 tokens; none longer than 16",
    }
    assert named(report, "rows").details == [
        "train.csv: 40 read, 40 used; 36 for training, 4 held out for validation"
    ]
    assert named(report, "labels").details == [
        "neg: 18 training (50.0%), 2 validation",
        "pos: 18 training (50.0%), 2 validation",
    ]


def test_report_to_dict_is_json(check: Checker) -> None:
    report = check([*rows(20), {"text": "neg review number 0", "label": "neg"}], validation=rows(2, start=50))

    parsed = json.loads(json.dumps(report.to_dict()))

    assert parsed["ok"] is True
    assert (parsed["passed"], parsed["warnings"], parsed["failures"]) == (8, 1, 0)
    assert [c["name"] for c in parsed["checks"]] == ALL_CHECKS
    duplicates = parsed["checks"][ALL_CHECKS.index("duplicates")]
    assert duplicates["status"] == "warn"
    assert duplicates["data"] == {"repeats": 1, "distinct": 40}
    assert set(duplicates) == {"name", "status", "summary", "details", "data", "hint"}


def test_format_checks_prints_one_line_per_check_with_details_below(check: Checker) -> None:
    report = check([*rows(20), {"text": "neg review number 0", "label": "neg"}], validation=rows(2, start=50))

    text = format_checks(report)
    lines = text.splitlines()

    assert lines[0] == "PASS  columns     text 'text', label 'label'"
    assert any(line.startswith("WARN  duplicates  ") for line in lines)
    indent = " " * len("WARN  duplicates  ")
    assert indent + "2x 'neg review number 0'" in lines
    assert indent + "hint: deduplicate the training file, unless the repeats are meant to weigh more" in lines
    assert lines[-1] == "8 passed, 1 warning, 0 failures"
    quiet = format_checks(report, quiet=True).splitlines()
    assert not any(line.startswith("PASS") for line in quiet)
    assert quiet[0].startswith("WARN  duplicates  ")


# ---------------------------------------------------------------- columns and files


def test_columns_lists_the_columns_not_used(check: Checker) -> None:
    table = [{**row, "id": i, "date": "2024"} for i, row in enumerate(rows(20))]

    columns = named(check(table), "columns")

    assert columns.status == "pass"
    assert columns.details == ["not used: 'id', 'date'"]
    assert columns.data["unused"] == ["id", "date"]


def test_missing_label_column_fails_with_the_columns_found(check: Checker, tmp_path: Path) -> None:
    report = check(rows(20), label_column="sentiment")

    assert statuses(report) == {"columns": "fail"}
    (failure,) = report.failed
    assert (
        failure.summary
        == f"{tmp_path / 'train.csv'} has no column 'sentiment'. Columns found: 'text', 'label'"
    )
    assert failure.hint == "pass --label-column with one of the columns found"


def test_unreadable_file_fails(tmp_path: Path) -> None:
    cfg = RunConfig(data=DataConfig(train_file=tmp_path / "missing.csv"))

    report = check_data(cfg)

    assert statuses(report) == {"read": "fail"}
    assert report.failed[0].summary == f"{tmp_path / 'missing.csv'} does not exist"
    assert report.failed[0].hint == "check the path (relative paths start from the current folder)"


def test_rows_counts_each_file(check: Checker) -> None:
    report = check(rows(20), validation=rows(3, start=100), test=rows(2, start=200))

    assert named(report, "rows").summary == "40 training, 6 validation, 4 test rows"
    assert named(report, "rows").details == [
        "train.csv: 40 read, 40 used",
        "val.csv: 6 read, 6 used",
        "test.csv: 4 read, 4 used",
    ]


# ---------------------------------------------------------------- empty rows


def test_empty_rows_fail_without_drop_invalid_and_the_other_checks_still_run(
    check: Checker, tmp_path: Path
) -> None:
    table = [*rows(20), {"text": "neg review number 0", "label": "neg"}, {"text": "no label", "label": ""}]

    report = check(table, validation=rows(2, start=50))

    assert [c.name for c in report.failed] == ["empty"]
    failure = report.failed[0]
    assert failure.summary == (
        f"{tmp_path / 'train.csv'}: 1 row has an empty label in column 'label': row 42 (line 43)"
    )
    assert (
        failure.hint == "fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)"
    )
    assert failure.details == ["the other checks ran without these rows"]
    assert [c.name for c in report.checks] == ALL_CHECKS  # one 'empty': the failure
    assert named(report, "duplicates").status == "warn"


def test_empty_rows_with_drop_invalid_warn_with_the_count(check: Checker) -> None:
    table = [*rows(20), {"text": "", "label": "neg"}, {"text": "no label", "label": ""}]

    empty = named(check(table, drop_invalid=True), "empty")

    assert empty.status == "warn"
    assert empty.summary == "2 rows with an empty text or label dropped (--drop-invalid)"
    assert empty.details == ["train.csv: 2"]
    assert empty.data == {"dropped": 2, "files": {"train.csv": 2}}


# ---------------------------------------------------------------- labels and imbalance


def test_a_single_class_fails(check: Checker, tmp_path: Path) -> None:
    report = check(rows(10, labels=("pos",)))

    assert [c.name for c in report.checks] == ["labels"]
    assert report.failed[0].summary == (
        f"{tmp_path / 'train.csv'}: every row has the label 'pos'; a classifier needs at least 2 classes"
    )


def test_a_split_that_cannot_be_stratified_fails(check: Checker, tmp_path: Path) -> None:
    report = check([*rows(20), {"text": "lonely", "label": "rare"}])

    assert statuses(report) == {"split": "fail"}
    assert report.failed[0].summary == (
        f"{tmp_path / 'train.csv'}: cannot make a stratified validation split: "
        "1 class has fewer than 2 rows: 'rare' (1 row)"
    )
    assert report.failed[0].hint == "add rows for these classes, remove them, or pass --validation-file"


def test_validation_labels_not_in_training_fail(check: Checker, tmp_path: Path) -> None:
    report = check(rows(20), validation=[*rows(2, start=50), {"text": "meh", "label": "neutral"}])

    assert [c.name for c in report.failed] == ["labels"]
    assert report.failed[0].summary.startswith(
        f"{tmp_path / 'val.csv'}: 1 row has a label the model was not trained on: "
        "row 5 (line 6) has label 'neutral'."
    )
    assert [c.name for c in report.checks] == ["columns", "rows", "empty", "labels", *ALL_CHECKS[3:]]


def test_labels_without_validation_rows_warn(check: Checker) -> None:
    labels = named(check(rows(20, labels=("neg", "pos", "mid")), validation=rows(2, start=50)), "labels")

    assert labels.status == "warn"
    assert labels.summary == "1 label has no validation rows: 'mid'"


def test_strong_imbalance_warns(check: Checker) -> None:
    table = rows(100, labels=("big",)) + rows(10, labels=("small",), start=500)

    imbalance = named(check(table, validation=rows(2, labels=("big", "small"), start=900)), "imbalance")

    assert IMBALANCE_RATIO == 10.0
    assert imbalance.status == "warn"
    assert (
        imbalance.summary == "strong imbalance: 'big' has 10.0x the training rows of 'small' (100 against 10)"
    )
    assert imbalance.data == {"ratio": 10.0, "largest": "big", "smallest": "small", "rare": []}


def test_mild_imbalance_passes(check: Checker) -> None:
    table = rows(30, labels=("big",)) + rows(10, labels=("small",), start=500)

    imbalance = named(check(table, validation=rows(2, labels=("big", "small"), start=900)), "imbalance")

    assert imbalance.status == "pass"
    assert (
        imbalance.summary
        == "largest class 'big' has 3.0x the training rows of the smallest, 'small' (30 against 10)"
    )


def test_rare_classes_warn(check: Checker) -> None:
    table = rows(12, labels=("a", "b")) + rows(3, labels=("c",), start=500)

    imbalance = named(check(table, validation=rows(1, labels=("a", "b", "c"), start=900)), "imbalance")

    assert RARE_CLASS_ROWS == 10
    assert imbalance.status == "warn"
    assert imbalance.summary == "1 class has fewer than 10 training rows: 'c' (3)"


# ---------------------------------------------------------------- repeats, overlap, conflicts


def test_duplicates_and_overlap_keep_their_messages(tmp_path: Path, make_csv: Callable[..., Path]) -> None:
    def table(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"text": text, "label": label} for text, label in pairs]

    train = make_csv(
        "train.csv",
        table([("same", "a"), ("same", "a"), ("same", "a"), ("other", "b"), ("seen", "b"), ("new", "a")]),
    )
    validation = make_csv("val.csv", table([("same", "a"), ("seen", "b"), ("unseen", "a")]))
    splits = load_splits(DataConfig(train_file=train, validation_file=validation), seed=0)

    report = check_splits(splits)

    assert [c.summary for c in report.checks if c.name in ("duplicates", "overlap")] == [
        f"{train}: 2 training rows repeat an earlier row's text; {REPEATS}",
        f"2 validation texts also appear in the training data; {OVERLAP}",
    ]
    assert named(report, "duplicates").details == ["3x 'same'"]
    assert named(report, "overlap").details[0] in ("validation: 'same', 'seen'", "validation: 'seen', 'same'")
    assert "length" not in statuses(report)  # no tokenizer, no lengths


def test_one_duplicate_and_one_overlap(check: Checker, tmp_path: Path) -> None:
    train = [{"text": "x", "label": "a"}, {"text": "x", "label": "a"}, {"text": "y", "label": "b"}]

    report = check(train, validation=[{"text": "y", "label": "b"}, {"text": "z", "label": "a"}])

    assert statuses(report)["imbalance"] == "warn"  # 2 and 1 rows
    assert [c.summary for c in report.checks if c.name in ("duplicates", "overlap")] == [
        f"{tmp_path / 'train.csv'}: 1 training row repeats an earlier row's text; {REPEATS}",
        f"1 validation text also appears in the training data; {OVERLAP}",
    ]


def test_duplicates_in_the_training_file_overlap_after_the_split(make_csv: Callable[..., Path]) -> None:
    # Five copies of one text: the split puts some on each side.
    table = [*rows(5, labels=("a", "b")), *[{"text": "copy", "label": "a"}] * 5]
    splits = load_splits(DataConfig(train_file=make_csv("d.csv", table), validation_split=0.5), seed=0)
    assert "copy" in splits.train.texts
    assert "copy" in splits.validation.texts

    overlap = named(check_splits(splits), "overlap")

    assert overlap.summary.startswith("1 validation text also appears in the training data")
    assert overlap.details == ["validation: 'copy'"]


def test_the_same_text_with_another_second_text_is_no_overlap(check: Checker) -> None:
    def table(*cells: tuple[str, str, str]) -> list[dict[str, str]]:
        return [{"text": text, "pair": pair, "label": label} for text, pair, label in cells]

    report = check(
        table(("q", "a1", "x"), ("q", "a2", "y"), ("r", "a3", "x"), ("s", "a4", "y")),
        validation=table(("q", "a5", "x")),
        text_pair_column="pair",
    )

    assert statuses(report)["duplicates"] == statuses(report)["overlap"] == "pass"
    assert statuses(report)["conflicts"] == "pass"


def test_test_overlap_and_both(check: Checker) -> None:
    test_only = check(rows(20), validation=rows(2, start=50), test=[*rows(1), *rows(2, start=70)])
    both = check(rows(20), validation=rows(2, start=0), test=rows(1, start=1))

    assert named(test_only, "overlap").summary == (
        "2 test texts also appear in the training data; "
        "test scores will be optimistic (deduplicate, or split by group)"
    )
    assert named(both, "overlap").summary == (
        "4 validation texts and 2 test texts also appear in the training data; "
        "their scores will be optimistic (deduplicate, or split by group)"
    )
    assert named(both, "overlap").data == {"validation": 4, "test": 2}


def test_the_same_text_with_another_pair_is_no_duplicate(check: Checker) -> None:
    table = [{"text": "q", "pair": f"answer {i}", "label": label} for i, label in enumerate(["x", "y"] * 10)]

    report = check(table, text_pair_column="pair")

    assert named(report, "duplicates").status == "pass"
    assert named(report, "conflicts").status == "pass"
    assert named(report, "columns").summary == "text 'text', text pair 'pair', label 'label'"


def test_conflicting_labels_warn_with_rows(check: Checker) -> None:
    table = [
        {"text": "free prize now", "label": "spam"},
        *rows(20),
        {"text": "free prize now", "label": "spam"},
        {"text": "free prize now", "label": "ham"},
    ]

    conflicts = named(check(table, validation=rows(2, start=50)), "conflicts")

    assert conflicts.status == "warn"
    assert conflicts.summary == "1 text appears with different labels (3 rows); the model cannot fit both"
    assert conflicts.details == [
        "'free prize now': 'spam' at train.csv row 1 (line 2) and 1 more, 'ham' at train.csv row 43 (line 44)"
    ]
    assert conflicts.data == {"texts": 1, "rows": 3}
    assert conflicts.hint == "give each text one label (fix or delete the wrong rows)"


def test_conflicts_are_found_across_a_validation_split(check: Checker) -> None:
    spam, ham = {"text": "free prize now", "label": "spam"}, {"text": "free prize now", "label": "ham"}

    conflicts = named(check([*rows(20), spam, spam, ham, ham]), "conflicts")  # some rows held out

    assert conflicts.summary == "1 text appears with different labels (4 rows); the model cannot fit both"
    assert conflicts.details == [
        "'free prize now': 'spam' at train.csv row 41 (line 42) and 1 more, "
        "'ham' at train.csv row 43 (line 44) and 1 more"
    ]


def test_conflicts_across_files_name_each_file(check: Checker) -> None:
    report = check(rows(20), validation=[{"text": "neg review number 3", "label": "pos"}, *rows(1, start=50)])

    conflicts = named(report, "conflicts")

    assert conflicts.status == "warn"
    assert conflicts.details == [
        "'neg review number 3': 'neg' at train.csv row 7 (line 8), 'pos' at val.csv row 1 (line 2)"
    ]


# ---------------------------------------------------------------- lengths and groups


def test_long_texts_warn_with_the_share_cut(check: Checker) -> None:
    long = [
        {"text": " ".join(["word"] * 30) + f" {i}", "label": row["label"]} for i, row in enumerate(rows(20))
    ]

    length = named(check(long), "length")

    assert length.status == "warn"
    assert length.summary == "100.0% of training texts are longer than 16 tokens and will be cut"
    assert length.details == ["median 33, 95th percentile 33, longest 33 tokens"]
    assert length.data["over_max_length"] == 36
    assert length.hint == "a larger --max-length keeps more of each text (training gets slower)"


def test_lengths_given_cut_at_max_length() -> None:
    from textfit.checks.rows import length_check

    check = length_check(np.array([3, 16, 16, 5] * 25), max_length=16, cut=True)

    assert check.status == "warn"
    assert check.summary == "50.0% of training texts are longer than 16 tokens and will be cut"
    assert check.details == ["median 10, 95th percentile at least 16, longest at least 16 tokens"]
    one_percent = length_check(np.array([3] * 99 + [16]), 16, cut=True)
    assert one_percent.status == "pass"  # 1% is not over 1%
    assert one_percent.summary == (
        "median 3, 95th percentile 3, longest at least 16 tokens; 1 (1.0%) longer than 16"
    )
    few = length_check(np.array([3] * 2000 + [17]), 16, cut=False)
    assert few.summary == "median 3, 95th percentile 3, longest 17 tokens; 1 (<0.1%) longer than 16"


def test_groups_with_every_label_pass(check: Checker) -> None:
    table = [{**row, "language": ["en", "fr"][i % 4 // 2]} for i, row in enumerate(rows(20))]

    report = check(table, group_column="language", validation=rows(2, start=50))

    groups = named(report, "groups")
    assert named(report, "columns").summary == "text 'text', label 'label', group 'language'"
    assert groups.status == "pass"
    assert groups.summary == "2 groups in 'language', each with every label: en 20, fr 20"
    assert groups.details == ["en: 20 rows (neg 10, pos 10)", "fr: 20 rows (neg 10, pos 10)"]
    assert groups.data["labels"] == {"en": {"neg": 10, "pos": 10}, "fr": {"neg": 10, "pos": 10}}


def test_groups_may_be_numbers(check: Checker) -> None:
    table = [{**row, "year": [2019, 2020][i % 4 // 2]} for i, row in enumerate(rows(20))]

    groups = named(check(table, group_column="year", validation=rows(2, start=50)), "groups")

    assert groups.status == "pass"
    assert groups.summary == "2 groups in 'year', each with every label: 2019 20, 2020 20"


def test_a_group_missing_a_label_warns(check: Checker) -> None:
    table = [*rows(20), *[{"text": f"texte {i}", "label": "neg"} for i in range(5)]]
    table = [{**row, "language": "fr" if row["text"].startswith("texte") else "en"} for row in table]
    table.append({"text": "no language", "label": "pos", "language": ""})

    groups = named(check(table, group_column="language", validation=rows(2, start=50)), "groups")

    assert groups.status == "warn"
    assert groups.summary == "2 groups lack a label in training: 'fr' has no 'pos'; '(empty)' has no 'neg'"
    assert groups.details == [
        "en: 40 rows (neg 20, pos 20)",
        "fr: 5 rows (neg 5), no 'pos'",
        "(empty): 1 row (pos 1), no 'neg'",
    ]
    assert (
        groups.hint
        == "add rows of the missing labels to these 'language' groups, or expect weak scores there"
    )


def test_a_missing_group_column_fails(check: Checker, tmp_path: Path) -> None:
    report = check(rows(20), group_column="language")

    assert statuses(report) == {"columns": "fail"}
    assert report.failed[0].summary == (
        f"{tmp_path / 'train.csv'} has no column 'language'. Columns found: 'text', 'label'"
    )
    assert report.failed[0].hint == "pass --group-column with one of the columns found"


# ---------------------------------------------------------------- the report


def test_raise_on_failure_names_the_check_and_its_hint() -> None:
    report = CheckReport(
        [Check("columns", "pass", "fine"), Check("empty", "fail", "3 rows are empty", hint="fill")]
    )

    with pytest.raises(DataError, match=re.escape("data check 'empty' failed: 3 rows are empty")) as caught:
        report.raise_on_failure()

    assert caught.value.hint == "fill"
    CheckReport([Check("columns", "warn", "odd")]).raise_on_failure()  # warnings do not raise
