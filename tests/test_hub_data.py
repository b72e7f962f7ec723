"""Data sets by name (--dataset): Hub-layout folders, save_to_disk folders, the Hub cache offline, errors."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import constants as hub_constants
from typer.testing import CliRunner

from conftest import CLASS_WORDS, TINY_TRAIN_SETTINGS, class_rows, pair_rows, write_csv
from textfit import train
from textfit.config.loading import load_config
from textfit.config.schema import DataConfig, RunConfig
from textfit.data import hub as hub_data
from textfit.data.hub import load_dataset_tables
from textfit.data.splits import load_splits
from textfit.data.tasks import MULTI_LABEL, REGRESSION
from textfit.errors import ConfigError, DataError

runner = CliRunner()
SHA = "0123456789abcdef0123456789abcdef01234567"
NOT_CACHED_HINT = (
    "pass a local folder with --dataset PATH (Parquet, CSV or JSON files laid out like a Hub data set "
    "repository, or a folder written by save_to_disk), or a table: textfit train TRAIN_FILE"
)


@pytest.fixture(autouse=True)
def _caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty Hub and datasets caches of the test's own (conftest sets HF_HUB_OFFLINE=1)."""
    home = tmp_path_factory.mktemp("hf-home")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    return home


def split_rows() -> dict[str, list[dict[str, Any]]]:
    """The 2-class task: 24 training, 8 validation and 8 test rows per class, no text shared."""
    return {
        "train": class_rows(CLASS_WORDS, 24),
        "validation": class_rows(CLASS_WORDS, 8, start=24),
        "test": class_rows(CLASS_WORDS, 8, start=32),
    }


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def hub_folder(root: Path, fmt: str = "parquet", rows: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """A Hub data set repository's layout: data/<split>-00000-of-00001.parquet, or <split>.csv."""
    for split, split_data in (rows or split_rows()).items():
        if fmt == "parquet":
            write_parquet(root / "data" / f"{split}-00000-of-00001.parquet", split_data)
        else:
            write_csv(root / f"{split}.csv", split_data)
    return root


@pytest.fixture
def saved_dict(tmp_path: Path) -> Path:
    """A save_to_disk DatasetDict with ClassLabel labels; its test split is unlabelled (-1), as GLUE's."""
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    splits = {}
    for split, rows in split_rows().items():
        labels = [-1 if split == "test" else ["negative", "positive"].index(r["label"]) for r in rows]
        splits[split] = datasets.Dataset.from_dict(
            {"text": [r["text"] for r in rows], "label": labels}, features=features
        )
    folder = tmp_path / "saved"
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder


def snapshot(hf_hub_cache: Path, repo_id: str, rows: dict[str, list[dict[str, Any]]]) -> Path:
    """A Hub cache entry as huggingface_hub writes it: refs/main names the commit of snapshots/<sha>."""
    storage = hf_hub_cache / ("datasets--" + repo_id.replace("/", "--"))
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(SHA, encoding="utf-8")
    for split, split_rows_ in rows.items():
        write_parquet(storage / "snapshots" / SHA / "data" / f"{split}-00000-of-00001.parquet", split_rows_)
    return storage


# ---------------------------------------------------------------- training end to end


def test_trains_on_a_hub_layout_parquet_folder(
    tmp_path: Path, tiny_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_folder(tmp_path / "reviews")
    monkeypatch.chdir(tmp_path)

    result = train(dataset="reviews", progress=False, **tiny_settings)

    assert result.run_dir == Path("runs/reviews")
    assert result.metrics["validation"]["samples"] == 16
    assert result.metrics["test"]["samples"] == 16
    assert result.metrics["test"]["accuracy"] >= 0.8  # class words decide: chance is 0.5
    assert result.metrics["dataset"] == {
        "name": str(tmp_path / "reviews"),
        "config": None,
        "splits": {"train": "train", "validation": "validation", "test": "test"},
    }
    saved = load_config(result.run_dir / "run_config.yaml")
    assert saved.data.dataset == str(tmp_path / "reviews")  # made absolute: reproducible from anywhere
    card = (result.run_dir / "model" / "README.md").read_text(encoding="utf-8")
    assert f"- data set: `{tmp_path / 'reviews'}`" in card
    assert f"- training split: `{tmp_path / 'reviews'} [train]` (48 rows used)" in card
    assert f"- validation: 16 rows from `{tmp_path / 'reviews'} [validation]`" in card


def test_trains_on_a_csv_folder_from_the_cli(tmp_path: Path, tiny_model_dir: Path) -> None:
    from textfit.cli.main import app

    folder = hub_folder(tmp_path / "csvs", fmt="csv")
    settings = [
        f"--set=train.{key}={value}" for key, value in TINY_TRAIN_SETTINGS.items() if key != "max_length"
    ]

    result = runner.invoke(
        app,
        ["train", "--dataset", str(folder), "--model", str(tiny_model_dir), "--max-length", "16",
         "-o", str(tmp_path / "run"), "--quiet", *settings],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert f"run saved to {tmp_path / 'run'}" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["accuracy"] >= 0.8
    assert metrics["dataset"]["splits"] == {"train": "train", "validation": "validation", "test": "test"}


def test_class_label_names_become_the_labels_and_an_unlabelled_test_split_is_skipped(
    saved_dict: Path, tmp_path: Path, tiny_settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="textfit"):
        result = train(dataset=str(saved_dict), output_dir=tmp_path / "run", progress=False, **tiny_settings)

    config = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert result.metrics["test"] is None
    assert f"split 'test' of {saved_dict} has no labels: not evaluated" in caplog.messages
    assert result.metrics["dataset"]["splits"] == {"train": "train", "validation": "validation"}


# ---------------------------------------------------------------- splits and columns


def test_slices_pick_rows_of_a_split(tmp_path: Path) -> None:
    folder = hub_folder(tmp_path / "reviews")

    splits = load_splits(
        DataConfig(dataset=str(folder), train_split="train[:20]", validation_split_name="validation[:50%]"),
        seed=0,
    )

    assert (len(splits.train), len(splits.validation), len(splits.test or [])) == (20, 8, 16)
    assert splits.train.source == Path(f"{folder} [train[:20]]")
    assert splits.dataset_splits == {"train": "train[:20]", "validation": "validation[:50%]", "test": "test"}


def test_validation_split_found_by_other_names_or_held_out(tmp_path: Path) -> None:
    rows = split_rows()
    dev = hub_folder(tmp_path / "dev", rows={"train": rows["train"], "dev": rows["validation"]})
    none = hub_folder(tmp_path / "none", rows={"train": rows["train"]})

    found = load_splits(DataConfig(dataset=str(dev)), seed=0)
    held_out = load_splits(DataConfig(dataset=str(none), validation_split=0.25), seed=0)
    forced = load_splits(
        DataConfig(dataset=str(dev), validation_split_name="none", test_split="none"), seed=0
    )

    assert (len(found.train), len(found.validation)) == (48, 16)
    assert found.validation.source == Path(f"{dev} [dev]")
    assert (len(held_out.train), len(held_out.validation), held_out.test) == (36, 12, None)
    assert (len(forced.train), len(forced.validation), forced.test) == (43, 5, None)


def test_sentence_pair_columns_are_found_when_unambiguous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = pair_rows(16)
    pairs = [{"sentence1": r["premise"], "sentence2": r["hypothesis"], "label": r["label"], "idx": i}
             for i, r in enumerate(rows)]  # fmt: skip
    folder = hub_folder(tmp_path / "mrpc", rows={"train": pairs})
    both = [{**row, "premise": "a", "hypothesis": "b"} for row in pairs]
    ambiguous = hub_folder(tmp_path / "both", rows={"train": both})

    with caplog.at_level(logging.INFO, logger="textfit"):
        splits = load_splits(DataConfig(dataset=str(folder)), seed=0)
    unchosen = load_dataset_tables(DataConfig(dataset=str(ambiguous))).data

    assert splits.columns == {"text": "sentence1", "text_pair": "sentence2", "label": "label"}
    assert splits.train.text_pairs is not None
    assert (
        "columns 'sentence1' / 'sentence2' read as a text pair (--text-column and --text-pair-column "
        "choose others)"
    ) in caplog.messages
    assert (unchosen.text_column, unchosen.text_pair_column) == (None, None)


def test_list_of_class_labels_is_multi_label_and_floats_are_regression(tmp_path: Path) -> None:
    names = ["food", "music", "sports"]
    texts = [row["text"] for row in class_rows(CLASS_WORDS, 10)]
    multi = datasets.Dataset.from_dict(
        {"text": texts, "labels": [[i % 3, (i + 1) % 3] for i in range(20)]},
        features=datasets.Features(
            {"text": datasets.Value("string"), "labels": datasets.List(datasets.ClassLabel(names=names))}
        ),
    )
    multi.save_to_disk(str(tmp_path / "multi"))
    scores = [{"text": text, "label": i / 7} for i, text in enumerate(texts)]
    hub_folder(tmp_path / "scores", rows={"train": scores})

    multi_splits = load_splits(DataConfig(dataset=str(tmp_path / "multi")), seed=0)
    regression = load_splits(DataConfig(dataset=str(tmp_path / "scores")), seed=0)

    assert multi_splits.task is MULTI_LABEL
    assert sorted(multi_splits.train.label_counts())[0] == '["food", "music"]'
    assert regression.task is REGRESSION


# ---------------------------------------------------------------- the Hub cache, offline


def test_a_hub_id_loads_from_the_hub_cache_offline() -> None:
    snapshot(Path(hub_constants.HF_HUB_CACHE), "someone/reviews", split_rows())

    loaded = load_dataset_tables(DataConfig(dataset="someone/reviews"))

    assert {role: len(table) for role, table in loaded.tables.items()} == {
        "train": 48,
        "validation": 16,
        "test": 16,
    }
    assert str(loaded.tables["train"].path) == "someone/reviews [train]"


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Python in a fresh process (the hub libraries read their settings at import)."""
    src = Path(__file__).parents[1] / "src"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PYTHONPATH": str(src), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOAD = (
    "from textfit.config.schema import DataConfig\n"
    "from textfit.errors import ConfigError, DataError\n"
    "from textfit.data.hub import load_dataset_tables\n"
    "try:\n"
    "    tables = load_dataset_tables(DataConfig(dataset={name!r}, dataset_config={config!r})).tables\n"
    "    print({{role: len(table) for role, table in tables.items()}})\n"
    "except DataError as err:\n"
    "    print('error:', err.message)\n"
    "    print('hint:', err.hint)\n"
)


@pytest.mark.subprocess
def test_a_hub_id_loads_from_a_hand_made_snapshot_in_hf_home_offline(tmp_path: Path) -> None:
    snapshot(tmp_path / "home" / "hub", "someone/reviews", split_rows())

    done = run_python(
        LOAD.format(name="someone/reviews", config=None),
        {"HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"},
    )

    assert done.stdout.strip() == "{'train': 48, 'validation': 16, 'test': 16}", done.stderr


@pytest.mark.subprocess
def test_without_network_or_cache_the_error_says_so_within_seconds(tmp_path: Path) -> None:
    done = run_python(  # HF_HUB_OFFLINE unset; the Hub's address refuses connections at once
        LOAD.format(name="glue", config="mrpc"),
        {"HF_HOME": str(tmp_path / "home"), "HF_ENDPOINT": "http://127.0.0.1:9"},
    )

    assert done.stdout.splitlines() == [
        "error: cannot load data set 'glue' (config 'mrpc'): it is not in the local cache "
        f"({tmp_path / 'home' / 'hub'}) and the Hugging Face Hub cannot be reached (offline?)",
        f"hint: {NOT_CACHED_HINT}",
    ], done.stderr
    assert "Retrying" not in done.stderr  # huggingface_hub alone retries for ~25 s; not timed here


def test_not_cached_offline_is_a_data_error() -> None:
    with pytest.raises(
        DataError, match=re.escape("cannot load data set 'dair-ai/emotion': it is not in")
    ) as caught:
        load_dataset_tables(DataConfig(dataset="dair-ai/emotion"))

    assert caught.value.hint == NOT_CACHED_HINT


def test_a_data_set_missing_from_a_reachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets.exceptions import DatasetNotFoundError

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise DatasetNotFoundError(
            "Dataset 'someone/nothing' doesn't exist on the Hub or cannot be accessed."
        )

    monkeypatch.setattr(hub_data, "hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", missing)

    with pytest.raises(
        DataError, match=re.escape("data set 'someone/nothing' was not found on the Hugging Face Hub")
    ) as caught:
        load_dataset_tables(DataConfig(dataset="someone/nothing"))

    assert caught.value.hint == (
        "check the id (user/name, as on huggingface.co/datasets); a private or gated one needs "
        "`hf auth login`"
    )


def test_a_missing_package_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def needs_a_decoder(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("To support decoding audio data, please install 'torchcodec'.")

    monkeypatch.setattr(datasets, "load_dataset", needs_a_decoder)
    folder = hub_folder(tmp_path / "speech")

    with pytest.raises(
        DataError, match=re.escape(f"cannot load data set '{folder}': a package it needs is missing")
    ) as caught:
        load_dataset_tables(DataConfig(dataset=str(folder)))

    assert caught.value.hint == "install the package named above, or pick a data set of texts"


# ---------------------------------------------------------------- errors


def configs_folder(root: Path) -> Path:
    """A Hub-layout folder of two configurations (mrpc, sst2), named in its README's YAML."""
    rows = split_rows()
    for config in ("mrpc", "sst2"):
        write_parquet(root / config / "train-00000-of-00001.parquet", rows["train"])
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": f"{name}/train-*"}]}
        for name in ("mrpc", "sst2")
    ]
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': configs})}---\n", encoding="utf-8")
    return root


def test_configuration_errors_list_the_configurations(tmp_path: Path) -> None:
    folder = configs_folder(tmp_path / "glue")

    with pytest.raises(
        DataError, match=re.escape(f"data set '{folder}' has several configurations: 'mrpc', 'sst2'")
    ) as missing:
        load_dataset_tables(DataConfig(dataset=str(folder)))
    with pytest.raises(
        DataError,
        match=re.escape(f"data set '{folder}' has no configuration 'mrcp'. Configurations: 'mrpc', 'sst2'"),
    ) as wrong:
        load_dataset_tables(DataConfig(dataset=str(folder), dataset_config="mrcp"))
    loaded = load_dataset_tables(DataConfig(dataset=str(folder), dataset_config="sst2"))

    assert missing.value.hint == "pick one with --dataset-config NAME"
    assert wrong.value.hint == "pass --dataset-config with one of them"
    assert str(loaded.tables["train"].path) == f"{folder}/sst2 [train]"


@pytest.mark.parametrize(
    ("settings", "message", "hint"),
    [
        (
            {"train_split": "trian"},
            "data set {f} has no split 'trian'. Splits found: 'train', 'validation', 'test'",
            "pass --train-split with one of the splits found",
        ),
        (
            {"test_split": "test[:5%]+holdout"},
            "data set {f} has no split 'holdout'. Splits found: 'train', 'validation', 'test'",
            "pass --test-split with one of the splits found",
        ),
        (
            {"validation_split_name": "validation[::2]"},
            "--validation-split-name 'validation[::2]' is not a split of {f}, nor a slice of one",
            "name one of the splits ('train', 'validation', 'test'), optionally sliced: "
            "train[:2000], train[:10%]",
        ),
        (
            {"train_split": "train[48:]"},
            "{f} [train[48:]] has no rows",
            "pass another --train-split (or a wider slice)",
        ),
    ],
)
def test_split_errors(tmp_path: Path, settings: dict[str, str], message: str, hint: str) -> None:
    folder = hub_folder(tmp_path / "reviews")

    with pytest.raises(DataError, match=re.escape(message.format(f=folder))) as caught:
        load_dataset_tables(DataConfig(dataset=str(folder), **settings))

    assert caught.value.hint == hint


def test_an_unlabelled_test_split_asked_for_is_an_error(saved_dict: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"split 'test' of {saved_dict} has no labels")) as caught:
        load_dataset_tables(DataConfig(dataset=str(saved_dict), test_split="test"))

    assert caught.value.hint == "pass a labelled --test-split (e.g. validation), or --test-split none"


def test_folder_errors(tmp_path: Path, saved_dict: Path) -> None:
    (tmp_path / "empty").mkdir()
    table = write_csv(tmp_path / "data.csv", class_rows(CLASS_WORDS, 2))
    (tmp_path / "ragged").mkdir()
    (tmp_path / "ragged" / "train.csv").write_text("text,label\na b,x\nc d,y,z\n", encoding="utf-8")
    cases = [
        (
            {"dataset": str(tmp_path / "missing")},
            f"data set folder {tmp_path / 'missing'} does not exist",
            "check the path (relative paths start from the current folder), or pass a Hub id: user/name",
        ),
        (
            {"dataset": str(table)},
            f"--dataset {table} is a file, not a data set folder or Hub id",
            f"pass a single table as the training file: textfit train {table}",
        ),
        (
            {"dataset": str(tmp_path / "empty")},
            f"data set folder {tmp_path / 'empty'} holds no data files that datasets reads",
            "put Parquet, CSV or JSON Lines files in it (train.csv, test.csv, or "
            "data/train-00000-of-00001.parquet, ...), or a folder written by save_to_disk",
        ),
        (
            {"dataset": str(tmp_path / "ragged")},
            f"cannot read data set '{tmp_path / 'ragged'}': Error tokenizing data. C error: Expected 2 "
            "fields in line 3, saw 3",
            "fix the data files (each split's files need the same columns)",
        ),
        (
            {"dataset": str(saved_dict), "dataset_config": "mrpc"},
            f"{saved_dict} was written by save_to_disk, which keeps no configurations (got 'mrpc')",
            "leave out --dataset-config",
        ),
    ]
    for settings, message, hint in cases:
        with pytest.raises(DataError, match=re.escape(message)) as caught:
            load_dataset_tables(DataConfig(**settings))
        assert caught.value.hint == hint


def test_a_training_file_and_a_data_set_together_are_refused(tmp_path: Path) -> None:
    from textfit.cli.main import app

    with pytest.raises(
        ConfigError, match=re.escape("data: give a training file (a.csv) or a data set (glue), not both")
    ):
        load_config(None, {"data.train_file": "a.csv", "data.dataset": "glue"})
    result = runner.invoke(app, ["train", str(tmp_path / "a.csv"), "--dataset", "glue"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"give a training file ({tmp_path / 'a.csv'}) or --dataset (glue), not both" in result.stderr


def test_default_output_folder_is_named_after_the_data_set() -> None:
    def run_dir(**data: Any) -> Path:
        return RunConfig(data=DataConfig(**data)).resolved_output_dir()

    assert run_dir(dataset="glue", dataset_config="mrpc") == Path("runs/glue-mrpc")
    assert run_dir(dataset="dair-ai/emotion") == Path("runs/emotion")
    assert run_dir(dataset="data/reviews/") == Path("runs/reviews")


def test_a_hub_id_stays_as_it_is_in_the_saved_config() -> None:
    cfg = RunConfig(data=DataConfig(dataset="dair-ai/emotion")).with_absolute_paths()

    assert cfg.data.dataset == "dair-ai/emotion"


# ---------------------------------------------------------------- textfit check


def test_check_a_data_set_from_the_cli(tmp_path: Path, tiny_model_dir: Path) -> None:
    from textfit.cli.main import app

    folder = hub_folder(tmp_path / "reviews")

    result = runner.invoke(app, ["check", "--dataset", str(folder), "--model", str(tiny_model_dir)])
    failed = runner.invoke(app, ["check", "--dataset", "someone/missing", "--model", str(tiny_model_dir)])

    assert result.exit_code == 0, result.stderr
    assert "PASS  rows        48 training, 16 validation, 16 test rows" in result.stdout
    assert "reviews [train]: 48 read, 48 used" in result.stdout
    assert (
        result.stdout.splitlines()[-1] == f"next: textfit train --dataset {folder} --model {tiny_model_dir}"
    )
    assert failed.exit_code == 1
    assert failed.stdout.startswith(
        "FAIL  read  cannot load data set 'someone/missing': it is not in the local cache"
    )


def test_a_hub_that_fails_midway_falls_back_to_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot(Path(hub_constants.HF_HUB_CACHE), "someone/reviews", split_rows())
    real = datasets.load_dataset
    asked: list[str] = []

    def flaky(path: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(path)
        if path == "someone/reviews" and not hub_constants.HF_HUB_OFFLINE:
            raise ConnectionError("Couldn't reach 'someone/reviews' on the Hub (ConnectError)")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_data, "hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", flaky)

    loaded = load_dataset_tables(DataConfig(dataset="someone/reviews"))

    assert len(loaded.tables["train"]) == 48
    assert asked[0] == "someone/reviews"
    assert asked[1].endswith(f"snapshots/{SHA}")
    assert hub_constants.HF_HUB_OFFLINE is False  # offline only while loading from the cache


def test_no_data_set_given() -> None:
    with pytest.raises(DataError, match=re.escape("no data set given")) as caught:
        load_dataset_tables(DataConfig())

    assert caught.value.hint == "textfit train --dataset glue --dataset-config mrpc"


@pytest.mark.parametrize("command", ["train", "check", "tune"])
def test_the_data_set_flags_are_on_train_check_and_tune(command: str) -> None:
    from textfit.cli.main import app

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    for flag in ("--dataset", "--dataset-config", "--train-split", "--validation-split-name", "--test-split"):
        assert f"{flag} " in result.stdout
