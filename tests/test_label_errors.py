"""Label errors found for you: out-of-fold probabilities, cleanlab's ranking, the CSV, the CLI, the report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import CLASS_WORDS, TINY_TRAIN_SETTINGS, class_rows, read_csv, write_csv
from textfit.cli.main import app
from textfit.config.loading import with_settings
from textfit.errors import ConfigError, DataError
from textfit.label_errors import find_label_errors, write_label_errors
from textfit.report.label_errors import label_errors_section

runner = CliRunner()
FLIPPED = (3, 10, 25, 50)  # indices of the rows whose label is flipped (rows 4, 11, 26, 51)


def flipped_rows(per_class: int = 40) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Positive / negative rows (each class its own words) with FLIPPED labels swapped; the true labels."""
    rows = class_rows(CLASS_WORDS, per_class)
    truth = {}
    for index in FLIPPED:
        truth[index + 1] = rows[index]["label"]
        rows[index]["label"] = "negative" if rows[index]["label"] == "positive" else "positive"
    return rows, truth


@pytest.fixture
def noisy_csv(make_csv: Any) -> tuple[Path, dict[int, str]]:
    rows, truth = flipped_rows()
    return make_csv("noisy.csv", rows), truth


def tiny_cfg(tiny_model_dir: Path, **settings: Any) -> Any:
    return with_settings(None, {"model": str(tiny_model_dir), **TINY_TRAIN_SETTINGS, **settings})


def test_embeddings_rank_the_flipped_rows_first(tiny_model_dir: Path, noisy_csv: Any) -> None:
    path, truth = noisy_csv

    found = find_label_errors(tiny_cfg(tiny_model_dir, train_file=path))

    assert found.checked == 80  # the share training holds out for validation is checked too
    assert (found.method, found.folds, found.notes) == ("embeddings", 5, [])
    top = found.rows[: len(truth)]
    assert {row.row for row in top} == set(truth)
    for row in top:
        assert row.suggested_label == truth[row.row] != row.label
        assert row.line == row.row + 1  # the header is line 1
        assert row.where == f"row {row.row} (line {row.row + 1})"
    quality = [row.label_quality for row in found.rows]
    assert quality == sorted(quality)  # most likely wrong first
    assert all(q < 0.5 for q in quality[: len(truth)])


def test_finetune_with_two_folds_finds_the_flipped_rows(tiny_model_dir: Path, noisy_csv: Any) -> None:
    path, truth = noisy_csv

    cfg = tiny_cfg(tiny_model_dir, train_file=path, seed=1)  # 20 rows a fold: seed 0 learns late

    found = find_label_errors(cfg, method="finetune", folds=2, epochs=10)

    assert (found.method, found.folds) == ("finetune", 2)
    assert {row.row for row in found.rows[: len(truth)]} == set(truth)


@pytest.mark.parametrize(
    "method", [{"method": "embeddings"}, {"method": "finetune", "folds": 2, "epochs": 10}], ids=str
)
def test_sentence_pairs_keep_their_second_text(
    tiny_model_dir: Path, make_csv: Any, method: dict[str, Any]
) -> None:
    rows, truth = flipped_rows()
    pairs = [{"premise": "the day", "hypothesis": row["text"], "label": row["label"]} for row in rows]
    path = make_csv("pairs.csv", pairs)
    columns = {"text_column": "premise", "text_pair_column": "hypothesis"}
    cfg = tiny_cfg(tiny_model_dir, train_file=path, seed=1, **columns)

    found = find_label_errors(cfg, **method)

    rows_found = {row.row for row in found.rows}
    assert rows_found <= set(truth)  # the second text carries the label: read as a pair
    assert len(rows_found) >= len(truth) - 1
    assert all(row.text == "the day" and row.text_pair for row in found.rows)


def test_multi_label_tables_are_refused(tiny_model_dir: Path, make_csv: Any) -> None:
    rows = [{"text": f"good day {i}", "label": "a|b" if i % 2 else "a"} for i in range(20)]
    cfg = tiny_cfg(tiny_model_dir, train_file=make_csv("multi.csv", rows), label_delimiter="|")

    with pytest.raises(ConfigError, match="label errors are found for single-label classification") as err:
        find_label_errors(cfg)
    assert "multi-label task" in err.value.message
    assert "--label-errors" in str(err.value.hint)


def test_a_rare_class_lowers_the_folds_and_says_so(tiny_model_dir: Path, make_csv: Any) -> None:
    rows = class_rows(CLASS_WORDS, 20)
    rows += [{"text": "ball goal team", "label": "sports"}, {"text": "match goal ball", "label": "sports"}]
    rows.append({"text": "goal ball team match", "label": "sports"})
    path = make_csv("rare.csv", rows)
    cfg = tiny_cfg(tiny_model_dir, train_file=path, validation_file=path)

    found = find_label_errors(cfg, folds=5)

    assert found.folds == 3
    assert found.notes == [
        "3 folds instead of 5: class 'sports' has 3 rows, and each fold needs one of each class"
    ]


def test_a_class_of_one_row_is_a_data_error(tiny_model_dir: Path, make_csv: Any) -> None:
    rows = [*class_rows(CLASS_WORDS, 10), {"text": "ball goal", "label": "sports"}]
    path = make_csv("single.csv", rows)
    cfg = tiny_cfg(tiny_model_dir, train_file=path, validation_file=path)

    with pytest.raises(DataError, match=re.escape("class 'sports' has a single row")) as err:
        find_label_errors(cfg)
    assert err.value.hint == "add rows of that class, or remove it"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"folds": 1}, "--folds 1: out-of-fold predictions need at least 2 folds"),
        ({"epochs": 2}, "--label-errors-epochs applies to --label-errors-method finetune"),
        ({"method": "knn"}, "unknown label-errors method 'knn'"),
    ],
)
def test_settings_that_cannot_work_are_config_errors(
    tiny_model_dir: Path, noisy_csv: Any, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        find_label_errors(tiny_cfg(tiny_model_dir, train_file=noisy_csv[0]), **settings)


def test_the_csv_lists_the_rows_and_is_not_replaced(
    tiny_model_dir: Path, noisy_csv: Any, tmp_path: Path
) -> None:
    found = find_label_errors(tiny_cfg(tiny_model_dir, train_file=noisy_csv[0]))
    path = tmp_path / "errors.csv"

    write_label_errors(path, found)

    written = read_csv(path)
    assert list(written[0]) == ["rank", "row", "line", "text", "label", "suggested_label", "label_quality"]
    assert [int(row["row"]) for row in written] == [row.row for row in found.rows]
    assert written[0]["rank"] == "1"
    with pytest.raises(ConfigError, match=re.escape(f"{path} already exists; textfit does not replace it")):
        write_label_errors(path, found)
    write_label_errors(path, found, overwrite=True)


def test_the_report_section_escapes_and_cuts_the_rows() -> None:
    rows = [{"row": "3", "label": "a", "suggested_label": "b", "label_quality": "0.01", "text": "<b>x</b>"}]

    html = "\n".join(label_errors_section(rows))

    assert "Possible label errors" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x" not in html
    assert "No rows of the training table look mislabelled" in "\n".join(label_errors_section([]))


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def tiny_yaml(tiny_model_dir: Path, tmp_path: Path) -> Path:
    train = {k: v for k, v in TINY_TRAIN_SETTINGS.items() if k != "max_length"}
    values = {"model": {"name": str(tiny_model_dir), "max_length": 16}, "train": train}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def test_check_label_errors_prints_and_writes_the_rows(
    tiny_model_dir: Path, noisy_csv: Any, tmp_path: Path
) -> None:
    path, truth = noisy_csv
    out = tmp_path / "found.csv"
    args = [
        "check",
        str(path),
        "--model",
        str(tiny_model_dir),
        "--max-length",
        "16",
        "--label-errors-out",
        str(out),
    ]

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.stderr
    assert re.search(
        r"label errors: \d+ of 80 rows of noisy.csv look mislabelled \(embeddings, 5 folds", result.stdout
    )
    first = min(truth)
    assert f"row {first} (line {first + 1})" in result.stdout
    assert f"all of them: {out}" in result.stdout
    assert {int(row["row"]) for row in read_csv(out)[: len(truth)]} == set(truth)

    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert again.stdout == ""
    assert f"error: {out} already exists; textfit does not replace it" in again.stderr
    assert "hint: pass --overwrite to replace it" in again.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_check_label_errors_json(tiny_model_dir: Path, noisy_csv: Any) -> None:
    import json

    path, truth = noisy_csv
    args = [
        "check",
        str(path),
        "--model",
        str(tiny_model_dir),
        "--max-length",
        "16",
        "--label-errors",
        "--folds",
        "4",
    ]
    args.append("--json")

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["label_errors"]
    assert (found["method"], found["folds"], found["checked"]) == ("embeddings", 4, 80)
    assert {row["row"] for row in found["rows"][: len(truth)]} == set(truth)


def test_check_label_errors_of_a_multi_label_table_fails_with_the_reason(
    tiny_model_dir: Path, make_csv: Any
) -> None:
    rows = [{"text": f"good day {i}", "label": "a|b" if i % 2 else "a"} for i in range(20)]
    path = make_csv("multi.csv", rows)

    result = runner.invoke(
        app, ["check", str(path), "--model", str(tiny_model_dir), "--label-delimiter", "|", "--label-errors"]
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: label errors are found for single-label classification" in result.stderr


def test_train_label_errors_writes_the_csv_and_the_report_section(
    tiny_yaml: Path, noisy_csv: Any, tmp_path: Path
) -> None:
    path, truth = noisy_csv
    run_dir = tmp_path / "run"

    result = runner.invoke(
        app, ["train", str(path), "--config", str(tiny_yaml), "-o", str(run_dir), "--label-errors", "-q"]
    )

    assert result.exit_code == 0, result.stderr
    written = read_csv(run_dir / "label_errors.csv")
    assert {int(row["row"]) for row in written[: len(truth)]} == set(truth)
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="label-errors">Possible label errors</h2>' in report
    assert f"all of them: {run_dir / 'label_errors.csv'}" in result.stdout
    from textfit.push import DATA_REASON, plan_upload

    plan = plan_upload(run_dir, "me/run")  # rows of the user's data: only with --include-data-files
    assert plan.left_out["label_errors.csv"] == DATA_REASON
    assert "label_errors.csv" in plan_upload(run_dir, "me/run", include_data_files=True).files
    # the run folder stays textfit's: it can be replaced
    again = ["train", str(path), "--config", str(tiny_yaml), "-o", str(run_dir), "--overwrite", "-q"]
    assert runner.invoke(app, again).exit_code == 0
    assert not (run_dir / "label_errors.csv").exists()
    assert "Possible label errors" not in (run_dir / "report.html").read_text(encoding="utf-8")


def test_train_without_label_errors_has_no_section(tiny_run_dir: Path) -> None:
    assert not (tiny_run_dir / "label_errors.csv").exists()
    assert "Possible label errors" not in (tiny_run_dir / "report.html").read_text(encoding="utf-8")


def test_train_label_errors_with_resume_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "run"), "--label-errors"])

    assert result.exit_code == 2
    assert "--label-errors finds the rows of a new run's table" in result.stderr


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("train", ["--folds", "3", "-o", "run"]),
        ("check", ["--label-errors-method", "finetune", "--label-errors-epochs", "2"]),
    ],
)
def test_label_errors_flags_without_label_errors_are_a_usage_error(
    command: str, flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    table = write_csv(tmp_path / "data.csv", class_rows(CLASS_WORDS, 8))
    result = runner.invoke(app, [command, str(table), *flags])

    assert result.exit_code == 2
    assert "apply with --label-errors" in result.stderr
    assert not (tmp_path / "run").exists()


def test_in_a_distributed_run_only_the_main_process_searches(
    noisy_csv: Any, tiny_yaml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textfit.cli import train as cli_train
    from textfit.cli.options import LabelErrorOptions

    searched = []
    monkeypatch.setattr(cli_train, "find", lambda options, cfg: searched.append(cfg) or "found")
    asked = LabelErrorOptions(label_errors=True)
    overrides = {"data.train_file": noisy_csv[0]}

    monkeypatch.setenv("RANK", "1")
    assert cli_train._label_errors(asked, tiny_yaml, overrides, cli_train.RunFolderOptions()) is None
    monkeypatch.setenv("RANK", "0")
    assert cli_train._label_errors(asked, tiny_yaml, overrides, cli_train.RunFolderOptions()) == "found"
    assert len(searched) == 1
