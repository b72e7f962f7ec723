"""Tables held in memory (pandas, pyarrow, datasets, dicts) train as files do, and say which row is bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from conftest import CLASS_WORDS, class_rows
from textfit.config.schema import DataConfig
from textfit.data.memory import memory_table, memory_tables
from textfit.data.splits import load_splits
from textfit.errors import ConfigError, DataError

ROWS = class_rows(CLASS_WORDS, 12)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {"text": [row["text"] for row in rows], "label": [row["label"] for row in rows]}


def _dataset_with_class_labels() -> Any:
    import datasets

    names = sorted(CLASS_WORDS)
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    columns = _columns(ROWS)
    columns["label"] = [names.index(label) for label in columns["label"]]
    return datasets.Dataset.from_dict(columns, features=features)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.DataFrame(_columns(ROWS)).set_index("text", drop=False),  # an index is not a column
        lambda: pa.table(_columns(ROWS)),
        lambda: _columns(ROWS),
        _dataset_with_class_labels,  # ClassLabel numbers read as their names
    ],
    ids=["pandas", "pyarrow", "dict", "datasets"],
)
def test_every_kind_of_table_reads_as_the_same_examples(make: Any) -> None:
    splits = load_splits(DataConfig(), seed=42, tables=memory_tables({"train": make()}))

    texts = splits.train.texts + splits.validation.texts
    labels = splits.train.labels + splits.validation.labels
    whole = sorted(zip(texts, labels, strict=True))
    assert whole == sorted((row["text"], row["label"]) for row in ROWS)
    assert splits.train.source == Path("<train table>")


def test_validation_and_test_tables_are_used_instead_of_a_held_out_share() -> None:
    tables = memory_tables(
        {
            "train": pd.DataFrame(_columns(ROWS)),
            "validation": pd.DataFrame(_columns(ROWS[:6])),
            "test": pa.table(_columns(ROWS[6:])),
        }
    )
    splits = load_splits(DataConfig(), seed=42, tables=tables)

    assert len(splits.train) == len(ROWS)
    assert splits.validation.texts == [row["text"] for row in ROWS[:6]]
    assert splits.test is not None
    assert splits.test.labels == [row["label"] for row in ROWS[6:]]


def test_a_bad_row_of_a_table_in_memory_is_named_by_its_table_and_row() -> None:
    columns = _columns(ROWS)
    columns["text"][3] = None
    with pytest.raises(DataError) as caught:
        load_splits(DataConfig(), seed=42, tables=memory_tables({"train": pd.DataFrame(columns)}))

    assert "<train table>" in str(caught.value)
    assert "row 4" in str(caught.value)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"validation": _columns(ROWS)}, "no 'train' table"),
        ({"train": _columns(ROWS), "dev": _columns(ROWS)}, "'dev'"),
        ({"train": ["a text", "another"]}, "a list is not a table"),
        ({"train": {"text": ["a", "b"], "label": ["x"]}}, "cannot be read as a table"),
    ],
)
def test_what_is_not_a_table_by_role_is_refused_with_the_shape_to_pass(tables: Any, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        memory_tables(tables)
    assert caught.value.hint


def test_tables_and_a_training_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="which one to train on"):
        load_splits(
            DataConfig(train_file=tmp_path / "data.csv"),
            seed=42,
            tables=memory_tables({"train": _columns(ROWS)}),
        )


def test_a_run_trains_from_a_dataframe_without_writing_a_data_file(
    tmp_path: Path, tiny_settings: dict[str, Any]
) -> None:
    from textfit import train

    test_rows = class_rows(CLASS_WORDS, 6, start=12)
    result = train(
        tables={"train": pd.DataFrame(_columns(ROWS)), "test": pd.DataFrame(_columns(test_rows))},
        output_dir=tmp_path / "run",
        progress=False,
        **tiny_settings,
    )

    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["samples"] == len(test_rows)
    assert metrics["validation"]["labels"] == sorted(CLASS_WORDS)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_a_bad_table_fails_before_the_run_folder_is_made(
    tmp_path: Path, tiny_settings: dict[str, Any]
) -> None:
    from textfit import train

    with pytest.raises(DataError, match="no 'train' table"):
        train(tables={"test": _columns(ROWS)}, output_dir=tmp_path / "run", progress=False, **tiny_settings)
    assert not list(tmp_path.iterdir())


def test_memory_table_of_an_empty_frame_has_no_rows() -> None:
    assert len(memory_table(pd.DataFrame({"text": [], "label": []}))) == 0
