"""The textfit command: help, exit codes, results on stdout, `error:` / `hint:` on stderr."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import TINY_TRAIN_SETTINGS, read_csv
from textfit.cli.main import app
from textfit.cli.options import TableOptions, option_groups

runner = CliRunner()  # click >= 8.2 keeps result.stdout and result.stderr apart


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def tiny_config(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YAML config with the tiny model and fast settings, for --config."""
    train = {k: v for k, v in TINY_TRAIN_SETTINGS.items() if k != "max_length"}
    values = {
        "model": {"name": str(tiny_model_dir), "max_length": TINY_TRAIN_SETTINGS["max_length"]},
        "train": train,
    }
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def assert_error(result: Any, message: str, hint: str | None = None) -> None:
    """Exit 1, nothing on stdout, `error:` (and `hint:`) on stderr."""
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert f"error: {message}" in result.stderr
    if hint is not None:
        assert f"hint: {hint}" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- help and usage


def test_help_lists_the_commands() -> None:
    result = invoke("--help")

    assert result.exit_code == 0
    for command in ("train", "evaluate", "predict"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("train", ["--model", "--epochs", "--test-file", "--overwrite", "--set", "--config"]),
        ("evaluate", ["--json", "--output", "--label-column"]),
        ("predict", ["--text", "--output", "--top-k", "--text-column"]),
    ],
)
def test_command_help(command: str, options: list[str]) -> None:
    result = invoke(command, "--help")

    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout


# The flags that say how to read a table, and those that say how to read its labels: written once in
# cli/options.py and taken by every command that reads a table of that kind.
TABLE_FLAGS = ["--text-column", "--text-pair-column", "--format", "--encoding", "--delimiter"]
LABEL_FLAGS = ["--label-column", "--group-column", "--label-map", "--drop-invalid"]
READS_TABLES = {
    "check": TABLE_FLAGS + LABEL_FLAGS,
    "train": TABLE_FLAGS + LABEL_FLAGS,
    "tune": TABLE_FLAGS + LABEL_FLAGS,
    "evaluate": TABLE_FLAGS + LABEL_FLAGS,
    "predict": TABLE_FLAGS,  # unlabelled rows, every one kept
    # --format is the export's own (onnx): the --check table's is --check-format. The check always
    # drops rows with an empty text or label, and compares the model's own label names.
    "export": [flag.replace("--format", "--check-format") for flag in TABLE_FLAGS] + ["--label-column"],
}


def _options() -> dict[str, dict[str, Any]]:
    """Each command's options by flag: {command: {--flag: click parameter}}."""
    import typer.main

    group: Any = typer.main.get_command(app)
    return {
        name: {flag: param for param in command.params for flag in param.opts if flag.startswith("--")}
        for name, command in group.commands.items()
    }


@pytest.mark.parametrize("command", sorted(READS_TABLES))
def test_every_command_that_reads_a_table_takes_the_shared_data_flags(command: str) -> None:
    options = _options()[command]

    missing = [flag for flag in READS_TABLES[command] if flag not in options]
    assert not missing, f"textfit {command} lacks {missing}"


def test_each_shared_data_flag_is_defined_once() -> None:
    """Same help, type and default wherever a shared flag is taken: one definition, no drift."""
    options = _options()
    for flag in {*TABLE_FLAGS, *LABEL_FLAGS, "--check-format"}:
        given = [options[command][flag] for command in READS_TABLES if flag in READS_TABLES[command]]
        shapes = {(param.help, str(param.type_descriptor.annotation), param.default) for param in given}
        assert len(shapes) == 1, f"{flag} differs between commands: {shapes}"
    assert options["export"]["--check-format"].help == options["train"]["--format"].help


def test_every_command_turns_library_errors_into_error_and_hint() -> None:
    """Each command is wrapped by the one decorator that prints `error:` / `hint:` and exits 1."""
    from textfit.cli.output import reports_errors

    wrapper = reports_errors(lambda: None).__code__
    unwrapped = [
        info.name or getattr(info.callback, "__name__", "?")
        for info in app.registered_commands
        if getattr(info.callback, "__code__", None) is not wrapper
    ]
    assert len(app.registered_commands) >= 10
    assert not unwrapped, f"commands without @reports_errors: {unwrapped}"


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("train", "--format <auto|csv|tsv|jsonl|parquet>"),
        ("train", "--precision <auto|fp32|bf16|fp16>"),
        ("train", "--task <auto|single_label|multi_label|regression>"),
        ("train", "--long-text <truncate|window>"),
        ("train", "--loss <cross_entropy|focal>"),
        ("evaluate", "--precision <auto|fp32|bf16|fp16>"),
        ("predict", "--backend <torch|onnx>"),
        ("serve", "--backend <torch|onnx>"),
        ("export", "--check-format <auto|csv|tsv|jsonl|parquet>"),
        ("export", "--quantize <auto|int8|none>"),
        ("export", "--format <onnx>"),
        ("check", "--task <auto|single_label|multi_label|regression>"),
    ],
)
def test_help_lists_the_values_of_each_closed_choice(command: str, option: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert option in result.stdout


def test_each_closed_choice_is_the_configs_own() -> None:
    """The flags' Literal types accept what the config's settings accept: no drift."""
    from typing import get_args

    from textfit.cli import options
    from textfit.config.schema import ModelConfig, TrainConfig

    assert get_args(options.Task) == get_args(ModelConfig.model_fields["task"].annotation)
    assert get_args(options.LongText) == get_args(ModelConfig.model_fields["long_text"].annotation)
    assert get_args(options.Loss) == get_args(TrainConfig.model_fields["loss"].annotation)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "data.csv", "--precision", "fp8"], "Invalid value for '--precision'"),
        (["train", "data.csv", "--task", "ranking"], "Invalid value for '--task'"),
        (["check", "data.csv", "--format", "xlsx"], "Invalid value for '--format'"),
        (["predict", "runs/x", "-t", "hi", "--backend", "tensorrt"], "Invalid value for '--backend'"),
    ],
)
def test_a_value_outside_a_closed_choice_is_a_usage_error_naming_the_choices(
    args: list[str], message: str
) -> None:
    result = invoke(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    value = args[-1]
    assert f"'{value}' is not one of" in result.stderr


@pytest.mark.parametrize(
    ("command", "examples"),
    [
        ([], ["textfit train data.csv --test-file test.csv", "textfit predict runs/data new.csv -o"]),
        (["check"], ["textfit check data.csv --validation-file dev.csv", "textfit check --dataset"]),
        (
            ["train"],
            [
                "textfit train data.csv --test-file test.csv --epochs 2",
                "textfit train --dataset glue --dataset-config mrpc",
                "textfit train --resume runs/data",
                "torchrun --nproc_per_node 2 -m textfit train data.csv",
            ],
        ),
        (
            ["predict"],
            ["textfit predict runs/train new.csv -o predictions.csv", "textfit predict runs/train --text"],
        ),
        (["serve"], ["textfit serve runs/train", "curl -s localhost:8000/predict -H"]),
        (["init-config"], ["textfit init-config -o textfit.yaml", "textfit train --config textfit.yaml"]),
    ],
)
def test_help_shows_each_example_command_on_a_line_of_its_own(
    command: list[str], examples: list[str]
) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    starts = [next((i for i, line in enumerate(lines) if line.startswith(e)), None) for e in examples]
    assert None not in starts, result.stdout
    assert len(set(starts)) == len(examples), "two examples run together on one line"


def test_version() -> None:
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.stdout == "textfit 0.1.0\n"


@pytest.mark.subprocess
def test_python_dash_m_textfit_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "textfit", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout
    assert "train" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Usage: textfit"),
        (["train", "data.csv", "--epochz", "2"], "No such option: --epochz"),
        (["train", "data.csv", "--epochs", "two"], "Invalid value for '--epochs'"),
        (["train"], "give a training file"),
        (["tune"], "give a training file"),
        (["train", "data.csv", "--set", "epochs"], "'epochs' is not KEY=VALUE"),
        (["predict", "runs/x"], "give either an input file or one or more --text"),
        (
            ["predict", "runs/x", "-t", "good", "-t", " "],
            "Invalid value for --text: text 2 is empty: give texts with at least one visible character",
        ),
        (["evaluate", "runs/x"], "Missing argument"),
        (["fit", "data.csv"], "No such command 'fit'"),
    ],
)
def test_usage_mistakes_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


# ---------------------------------------------------------------- check


def labelled_rows(per_label: int = 20) -> list[dict[str, Any]]:
    return [
        {"text": f"{label} text {i}", "label": label} for i in range(per_label) for label in ("neg", "pos")
    ]


def test_check_prints_a_line_per_check_and_the_next_command(tiny_model_dir: Path, make_csv: Any) -> None:
    data = make_csv("data.csv", labelled_rows())

    result = invoke("check", data, "--model", tiny_model_dir, "--max-length", "16")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "PASS  columns     text 'text', label 'label'"
    assert [line.split()[:2] for line in lines if line[:4] in ("PASS", "WARN", "FAIL")] == [
        ["PASS", name]
        for name in ("columns", "rows", "empty", "labels", "imbalance", "duplicates", "overlap", "conflicts")
    ] + [["PASS", "length"]]
    assert lines[-2:] == [
        "9 passed, 0 warnings, 0 failures",
        f"next: textfit train {data} --model {tiny_model_dir} --max-length 16",
    ]


def test_check_with_warnings_exits_0(tiny_model_dir: Path, make_csv: Any) -> None:
    data = make_csv("data.csv", [*labelled_rows(), {"text": "neg text 0", "label": "pos"}])
    validation = make_csv("val.csv", [{"text": "new", "label": "neg"}, {"text": "newer", "label": "pos"}])

    result = invoke("check", data, "--validation-file", validation, "--model", tiny_model_dir)

    assert result.exit_code == 0, result.stderr
    assert "WARN  duplicates  " in result.stdout
    assert (
        "WARN  conflicts   1 text appears with different labels (2 rows); the model cannot fit both"
    ) in result.stdout
    assert (
        "'neg text 0': 'neg' at data.csv row 1 (line 2), 'pos' at data.csv row 41 (line 42)" in result.stdout
    )
    assert "7 passed, 2 warnings, 0 failures" in result.stdout
    assert (
        f"next: textfit train {data} --validation-file {validation} --model {tiny_model_dir}" in result.stdout
    )


def test_check_failure_exits_1_with_the_fix(tiny_model_dir: Path, make_csv: Any) -> None:
    data = make_csv("data.csv", labelled_rows())

    result = invoke("check", data, "--label-column", "sentiment", "--model", tiny_model_dir)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"FAIL  columns  {data} has no column 'sentiment'. Columns found: 'text', 'label'",
        "               hint: pass --label-column with one of the columns found",
        "",
        "0 passed, 0 warnings, 1 failure",
        "next: pass --label-column with one of the columns found; "
        f"then textfit check {data} --label-column sentiment --model {tiny_model_dir}",
    ]


def test_check_json_is_parseable_and_keeps_the_exit_status(tiny_model_dir: Path, make_csv: Any) -> None:
    data = make_csv("data.csv", labelled_rows())

    passed = invoke("check", data, "--model", tiny_model_dir, "--json")
    failed = invoke("check", data, "--model", tiny_model_dir, "--json", "--text-column", "body")

    assert passed.exit_code == 0, passed.stderr
    report = json.loads(passed.stdout)
    assert report["ok"] is True
    assert [check["status"] for check in report["checks"]] == ["pass"] * 9
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["checks"][0]["summary"].endswith(
        "has no column 'body'. Columns found: 'text', 'label'"
    )


def test_check_quiet_shows_only_warnings_and_failures(tiny_model_dir: Path, make_csv: Any) -> None:
    data = make_csv("data.csv", [*labelled_rows(), {"text": "neg text 0", "label": "neg"}])
    validation = make_csv("val.csv", [{"text": "new", "label": "neg"}, {"text": "newer", "label": "pos"}])

    result = invoke("check", data, "--validation-file", validation, "--model", tiny_model_dir, "-q")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("WARN  duplicates  ")
    assert "PASS" not in result.stdout


def test_check_group_column_and_the_default_model(make_csv: Any) -> None:
    rows = [{**row, "language": "en" if i % 2 else "de"} for i, row in enumerate(labelled_rows())]
    data = make_csv("data.csv", [*rows, {"text": "ohne label", "label": "", "language": "de"}])

    result = invoke("check", data, "--group-column", "language", "--drop-invalid")  # minilm's tokenizer

    assert result.exit_code == 0, result.stderr
    assert "PASS  columns     text 'text', label 'label', group 'language'" in result.stdout
    assert "WARN  empty       1 row with an empty text or label dropped (--drop-invalid)" in result.stdout
    assert "PASS  length      median " in result.stdout
    assert "WARN  groups      2 groups lack a label in training: " in result.stdout
    assert result.stdout.splitlines()[-1] == (
        f"next: textfit train {data} --drop-invalid --group-column language"
    )


def test_check_a_missing_model_is_a_failed_check(make_csv: Any) -> None:
    data = make_csv("data.csv", labelled_rows())

    result = invoke("check", data, "--model", "./no-such-model")

    assert result.exit_code == 1
    assert "FAIL  length      cannot load model './no-such-model': no such folder" in result.stdout
    assert (
        "hint: pass a local model folder with --model PATH, or one of the presets: minilm, mpnet"
        in result.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "give a training file"),
        (["check", "data.csv", "--max-lenght", "9"], "No such option: --max-lenght"),
        (["check", "data.csv", "--max-length", "many"], "Invalid value for '--max-length'"),
    ],
)
def test_check_usage_mistakes_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


# ---------------------------------------------------------------- train


def test_train_prints_the_run_folder_and_metrics(
    tiny_config: Path, binary_csv: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"

    result = invoke(
        "train", binary_csv, "--config", tiny_config, "--test-file", binary_test_csv, "-o", run_dir
    )

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"run saved to {run_dir}"
    assert lines[1].startswith("trained on ")
    assert lines[1].endswith("(fp32)")
    assert "validation:" in lines
    assert "test:" in lines
    assert any(line.split()[:1] == ["accuracy"] for line in lines)
    assert "confusion matrix" in result.stdout
    assert lines[-1] == f"next: textfit predict {run_dir} new_texts.csv -o predictions.csv"
    assert f"report: {run_dir / 'report.html'} (" in result.stdout
    assert "loss" not in result.stdout, "progress and log lines go to stderr"
    assert "\r" not in result.stdout, "progress bars go to stderr"
    assert "tokenizing" in result.stderr
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert "error" not in result.stderr


def test_train_quiet_keeps_stdout_to_the_results(tiny_config: Path, binary_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    result = invoke("train", binary_csv, "--config", tiny_config, "--epochs", "1", "-o", run_dir, "-q")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"run saved to {run_dir}\n")
    assert "{" not in result.stdout, "no Trainer log dicts on stdout"
    assert "test:" not in result.stdout
    # no bars, no log lines: only warnings (here the one for few labelled examples)
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["warning"]
    assert result.stdout.splitlines()[-1].startswith(f"next: textfit predict {run_dir} ")


def test_flags_win_over_the_config_file(tiny_config: Path, binary_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    result = invoke(
        "train", binary_csv, "--config", tiny_config, "-o", run_dir, "-q",
        "--epochs", "1", "--seed", "7", "--set", "train.weight_decay=0.5",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    saved = yaml.safe_load((run_dir / "run_config.yaml").read_text(encoding="utf-8"))
    assert saved["train"]["epochs"] == 1
    assert saved["train"]["seed"] == 7
    assert saved["train"]["weight_decay"] == 0.5
    assert saved["train"]["learning_rate"] == TINY_TRAIN_SETTINGS["learning_rate"]


def test_no_cache_tokenizes_without_writing_the_cache(
    tiny_config: Path, binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))

    off = invoke(
        "train",
        binary_csv,
        "--config",
        tiny_config,
        "-o",
        tmp_path / "a",
        "-q",
        "--epochs",
        "1",
        "--no-cache",
    )
    written_off = list((tmp_path / "cache").glob("tokenized/*/tokens.arrow"))
    on = invoke("train", binary_csv, "--config", tiny_config, "-o", tmp_path / "b", "-q", "--epochs", "1")

    assert off.exit_code == 0, off.stderr
    assert on.exit_code == 0, on.stderr
    assert written_off == []
    assert len(list((tmp_path / "cache").glob("tokenized/*/tokens.arrow"))) == 1
    saved = yaml.safe_load((tmp_path / "a" / "run_config.yaml").read_text(encoding="utf-8"))
    assert saved["data"]["cache"] is False


def test_train_missing_file(tiny_config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"

    result = invoke("train", missing, "--config", tiny_config, "-o", tmp_path / "run")

    assert_error(
        result,
        f"{missing} does not exist",
        "check the path (relative paths start from the current folder)",
    )


def test_train_missing_column_lists_the_columns_found(
    tiny_config: Path, binary_csv: Path, tmp_path: Path
) -> None:
    result = invoke(
        "train",
        binary_csv,
        "--config",
        tiny_config,
        "-o",
        tmp_path / "run",
        "--label-column",
        "sentiment",
    )

    assert_error(
        result,
        f"{binary_csv} has no column 'sentiment'. Columns found: 'text', 'label'",
        "pass --label-column with one of the columns found",
    )


def test_train_refuses_an_existing_run_folder(tiny_config: Path, binary_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run_config.yaml").write_text("{}", encoding="utf-8")  # a run, as textfit wrote them
    (run_dir / "metrics.json").write_text("{}", encoding="utf-8")

    result = invoke("train", binary_csv, "--config", tiny_config, "-o", run_dir)

    assert_error(
        result,
        f"run folder {run_dir} already exists",
        "pass --overwrite to replace it, or --output-dir to write somewhere else",
    )
    assert (run_dir / "metrics.json").read_text(encoding="utf-8") == "{}"


def test_train_overwrite_replaces_a_run_and_refuses_its_own_config_as_input(
    tiny_config: Path, binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    first = invoke("train", binary_csv, "--config", tiny_config, "--epochs", "1", "-o", run_dir, "-q")
    assert first.exit_code == 0, first.stderr

    again = invoke(
        "train", binary_csv, "--config", tiny_config, "--epochs", "2", "-o", run_dir, "-q", "--overwrite"
    )

    assert again.exit_code == 0, again.stderr
    assert yaml.safe_load((run_dir / "run_config.yaml").read_text(encoding="utf-8"))["train"]["epochs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no .partial / .old left"
    saved = run_dir / "run_config.yaml"
    refused = invoke("train", "--config", saved, "-o", run_dir, "--overwrite")
    assert_error(
        refused,
        f"{run_dir} holds {saved}, which this command reads: textfit never replaces it",
        "pass --output-dir with a folder that holds none of the input files",
    )
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_train_misspelt_setting_is_a_config_error(
    tiny_config: Path, binary_csv: Path, tmp_path: Path
) -> None:
    result = invoke("train", binary_csv, "--config", tiny_config, "--set", "train.epocs=2")

    assert_error(
        result,
        "invalid config",
        "`textfit init-config` lists every setting with its default; run_config.yaml of a run shows them all",
    )
    assert "train.epocs: unknown setting (did you mean 'train.epochs'?)" in result.stderr


def test_train_missing_model_folder(binary_csv: Path, tmp_path: Path) -> None:
    result = invoke("train", binary_csv, "--model", "./no-such-model", "-o", tmp_path / "run")

    assert_error(
        result,
        "cannot load model './no-such-model': no such folder",
        "pass a local model folder with --model PATH, or one of the presets: minilm, mpnet",
    )


# ---------------------------------------------------------------- evaluate


def test_evaluate_json_prints_parseable_metrics(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "metrics.json"

    result = invoke("evaluate", tiny_run_dir, binary_test_csv, "--json", "-o", output)

    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["samples"] == 16
    assert metrics["accuracy"] >= 0.9
    assert json.loads(output.read_text(encoding="utf-8")) == metrics


def test_evaluate_prints_a_table(tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "metrics.json"

    result = invoke("evaluate", tiny_run_dir, binary_test_csv, "-o", output)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{binary_test_csv} (16 rows):\n")
    assert "f1_macro" in result.stdout
    assert f"\nmetrics written to {output}\n" in result.stdout


def test_evaluate_unknown_label(tiny_run_dir: Path, make_csv: Any, tmp_path: Path) -> None:
    data_file = make_csv(
        "unknown.csv", [{"text": "good", "label": "positive"}, {"text": "day", "label": "meh"}]
    )

    result = invoke("evaluate", tiny_run_dir, data_file, "-o", tmp_path / "m.json")

    assert_error(result, f"{data_file}: ", "fix those labels, or retrain with them in the training file")
    assert "row 2 (line 3) has label 'meh'" in result.stderr
    assert "Labels the model knows: 'negative', 'positive'" in result.stderr


def test_evaluate_missing_run_folder(binary_test_csv: Path, tmp_path: Path) -> None:
    result = invoke("evaluate", tmp_path / "no-run", binary_test_csv)

    assert_error(result, f"run folder {tmp_path / 'no-run'} does not exist", "pass the --output-dir of a run")


# ---------------------------------------------------------------- predict


def test_predict_texts_prints_a_label_per_text(tiny_run_dir: Path) -> None:
    result = invoke("predict", tiny_run_dir, "--text", "good great", "-t", "awful sad")

    assert result.exit_code == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [fields[0] for fields in lines] == ["positive", "negative"]
    assert [fields[2] for fields in lines] == ["good great", "awful sad"]
    assert all(0.5 <= float(fields[1]) <= 1 for fields in lines)


def test_predict_file_writes_the_output_file(tiny_run_dir: Path, make_csv: Any, tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "good great"},
        {"id": "b", "text": ""},
        {"id": "c", "text": "sad bad"},
    ]
    input_file = make_csv("input.csv", rows)
    output = tmp_path / "predictions.csv"

    result = invoke("predict", tiny_run_dir, input_file, "-o", output)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"3 rows with predictions written to {output}" in result.stderr
    timing = re.search(r" in ([0-9.]+) s \(([0-9]+) rows/s; the model loaded in ([0-9.]+) s\)", result.stderr)
    assert timing is not None, result.stderr  # what the benchmark compares with the tutorial's pipeline
    assert int(timing.group(2)) > 0  # 3 rows in 0.00 s (rounded) is still a rate
    written = read_csv(output)
    assert [(row["id"], row["predicted_label"]) for row in written] == [
        ("a", "positive"), ("b", ""), ("c", "negative")
    ]  # fmt: skip


def test_predict_quiet_writes_the_predictions_and_nothing_on_stderr(
    tiny_run_dir: Path, make_csv: Any, tmp_path: Path
) -> None:
    input_file = make_csv("input.csv", [{"text": "good great"}, {"text": "sad bad"}])
    output = tmp_path / "predictions.csv"

    result = invoke("predict", tiny_run_dir, input_file, "-o", output, "-q")

    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert [row["predicted_label"] for row in read_csv(output)] == ["positive", "negative"]


def test_predict_file_to_stdout(tiny_run_dir: Path, make_csv: Any) -> None:
    input_file = make_csv("input.csv", [{"text": "lovely happy"}, {"text": "terrible"}])

    result = invoke("predict", tiny_run_dir, input_file, "--top-k", "1")

    assert result.exit_code == 0, result.stderr
    written = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["predicted_label"] for row in written] == ["positive", "negative"]
    assert len(json.loads(written[0]["top_k"])) == 1


def test_predict_reads_stdin_and_writes_stdout(tiny_run_dir: Path) -> None:
    result = runner.invoke(
        app, ["predict", str(tiny_run_dir), "-"], input="id,text\n1,good great\n2,sad bad\n"
    )

    assert result.exit_code == 0, result.stderr
    written = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["id"], row["predicted_label"]) for row in written] == [
        ("1", "positive"),
        ("2", "negative"),
    ]


def test_predict_missing_text_column(tiny_run_dir: Path, make_csv: Any) -> None:
    input_file = make_csv("input.csv", [{"body": "good"}])

    result = invoke("predict", tiny_run_dir, input_file, "--text-column", "message")

    assert_error(
        result,
        f"{input_file} has no column 'message'. Columns found: 'body'",
        "pass --text-column with one of the columns found",
    )


@pytest.mark.parametrize(
    ("command", "flag"),
    [("evaluate", "--format"), ("predict", "--format"), ("check", "--format"), ("tune", "--format"),
     ("export", "--check-format")],
)  # fmt: skip
def test_unknown_format_is_a_usage_error_not_a_traceback(
    command: str, flag: str, tiny_run_dir: Path, binary_test_csv: Path
) -> None:
    if command == "export":
        args: list[str | Path] = [tiny_run_dir, "--check", binary_test_csv]
    elif command in ("check", "tune"):  # read before any model is loaded or trained
        args = [binary_test_csv]
    else:
        args = [tiny_run_dir, binary_test_csv]
    result = invoke(command, *args, flag, "xlsx")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"Invalid value for '{flag}'" in result.stderr
    assert "'xlsx' is not one of 'auto', 'csv', 'tsv', 'jsonl', 'parquet'" in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_bar_on_stderr_unless_quiet(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    shown = invoke("predict", tiny_run_dir, binary_test_csv, "-o", tmp_path / "p.csv")
    assert shown.exit_code == 0, shown.stderr
    assert "predicting" in shown.stderr
    assert shown.stdout == ""
    quiet = invoke("evaluate", tiny_run_dir, binary_test_csv, "-o", tmp_path / "m.json", "-q")
    assert quiet.exit_code == 0, quiet.stderr
    assert "evaluating" not in quiet.stderr
    loud = invoke("evaluate", tiny_run_dir, binary_test_csv, "-o", tmp_path / "m.json")
    assert "evaluating" in loud.stderr
    assert "evaluating" not in loud.stdout


def test_an_option_group_is_shown_as_its_flags_and_handed_over_whole() -> None:
    """@option_groups: Typer sees the group's flags in its place; the command gets the group."""
    import typer.main

    seen: list[Any] = []

    @option_groups
    def command(*, table: TableOptions, top: int = 1) -> None:
        seen.append((table, top))

    one = typer.Typer()
    one.command()(command)
    result = runner.invoke(one, ["--text-column", "body", "--format", "csv", "--top", "2"])

    assert result.exit_code == 0, result.stderr
    assert seen == [(TableOptions(text_column="body", table_format="csv"), 2)]
    assert [param.name for param in typer.main.get_command(one).params][:2] == [
        "text_column",
        "text_pair_column",
    ]
    with pytest.raises(TypeError, match="a flag of an option group has the name of another parameter"):

        @option_groups
        def clash(*, table: TableOptions, text_column: str | None = None) -> None:
            pass


def test_fast_paths_flag_reaches_classifier_load_in_predict_evaluate_and_serve(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from textfit.inference.classifier import Classifier

    asked: list[Any] = []
    load = Classifier.load.__func__  # type: ignore[attr-defined]

    def recording_load(cls: type[Classifier], *args: Any, **kwargs: Any) -> Classifier:
        asked.append(kwargs["fast_paths"])
        return load(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Classifier, "load", classmethod(recording_load))
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    given = invoke("predict", tiny_run_dir, "--text", "good great", "--fast-paths", "none")
    alone = invoke("predict", tiny_run_dir, "--text", "good great", "--fast-paths", "packed, prepack")
    every = invoke("predict", tiny_run_dir, "--text", "good great")
    evaluated = invoke(
        "evaluate", tiny_run_dir, binary_test_csv, "-o", tmp_path / "m.json", "--fast-paths", "none"
    )
    served = invoke("serve", tiny_run_dir, "--fast-paths", "firsttoken")

    assert [result.exit_code for result in (given, alone, every, evaluated, served)] == [0] * 5
    assert asked == [(), ("packed", "prepack"), ("packed", "firsttoken", "prepack"), (), ("firsttoken",)]
    assert given.stdout == every.stdout  # the model's own forward predicts what the fast paths do


def test_an_unknown_fast_path_is_an_error_naming_the_known_ones(tiny_run_dir: Path) -> None:
    result = invoke("predict", tiny_run_dir, "--text", "good", "--fast-paths", "turbo")

    assert result.exit_code == 1
    assert "turbo" in result.stderr
    assert "packed" in result.stderr  # the known paths


@pytest.mark.parametrize(("flag", "expected"), [("--no-cpu-fast-path", False), ("--cpu-fast-path", True)])
def test_cpu_fast_path_flag_sets_the_training_setting(
    flag: str, expected: bool, binary_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textfit.push

    seen: list[Any] = []

    def fake_train(cfg: Any, **_: Any) -> Any:
        seen.append(cfg.train.cpu_fast_path)
        raise SystemExit(0)

    monkeypatch.setattr(textfit.push, "train_and_push", fake_train)
    invoke("train", binary_csv, flag)

    assert seen == [expected]
