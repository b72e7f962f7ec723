"""Load a data set by name (a Hugging Face Hub id, a Hub-layout folder, a save_to_disk folder) as Tables.

Each split becomes a `tables.Table` named like 'glue/mrpc [train]', with ClassLabel numbers as
their names, so that the pipeline of files (columns, rows, task, checks, splits) runs on it unchanged.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from textfit.config.schema import DataConfig
from textfit.data.examples import find_columns, with_pair_columns  # PAIR_COLUMNS, shared with files
from textfit.data.labels import label_name
from textfit.data.tables import Table
from textfit.errors import DataError
from textfit.hub import hub_reachable

__all__ = ["VALIDATION_SPLITS", "DatasetTables", "dataset_arrow", "load_dataset_tables"]

logger = logging.getLogger(__name__)

VALIDATION_SPLITS = ("validation", "valid", "dev")  # looked for in this order
NO_SPLIT = "none"  # validation_split_name / test_split: use no split of the data set
_LOCAL_HINT = (
    "pass a local folder with --dataset PATH (Parquet, CSV or JSON files laid out like a Hub data set "
    "repository, or a folder written by save_to_disk), or a table: textfit train TRAIN_FILE"
)
_ROLE_FLAGS = {"train": "--train-split", "validation": "--validation-split-name", "test": "--test-split"}


@dataclass
class DatasetTables:
    """The splits of a data set as Tables, by role.

    Attributes:
        name: the data set as messages name it: 'glue/mrpc' (id or folder, then the config).
        tables: "train", and "validation" / "test" where the data set gives them.
        splits: the split (with any slice) each table was read from, by role.
        data: the data settings to read the tables with: those given, with detected pair columns.
    """

    name: str
    tables: dict[str, Table]
    splits: dict[str, str]
    data: DataConfig


def load_dataset_tables(cfg: DataConfig) -> DatasetTables:
    """The train, validation and test splits of cfg.dataset, each as a Table.

    The validation split is cfg.validation_split_name, else the first of VALIDATION_SPLITS the data
    set has (none: the caller holds out a share of the training split); the test split is
    cfg.test_split, else "test" where it has labels (GLUE's test labels are all -1: skipped with a
    warning). Roles that cfg gives a file for (validation_file, test_file) are not read.

    Raises:
        DataError: the data set cannot be loaded (not cached and offline, unknown configuration or
            split, no data files), or a split is empty.
    """
    if cfg.dataset is None:
        raise DataError("no data set given", hint="textfit train --dataset glue --dataset-config mrpc")
    name = (cfg.dataset.rstrip("/\\") or cfg.dataset) + (
        f"/{cfg.dataset_config}" if cfg.dataset_config else ""
    )
    splits = _open(cfg.dataset, cfg.dataset_config, name)
    wanted: dict[str, str | None] = {"train": cfg.train_split}
    if cfg.validation_file is None:
        given = cfg.validation_split_name
        found = next((split for split in VALIDATION_SPLITS if split in splits), None)
        wanted["validation"] = found if given is None else given
    if cfg.test_file is None:
        wanted["test"] = "test" if cfg.test_split is None and "test" in splits else cfg.test_split
    chosen = {role: spec for role, spec in wanted.items() if spec and spec.lower() != NO_SPLIT}
    tables = {role: _split_table(splits, spec, role, name) for role, spec in chosen.items()}
    data = with_pair_columns(cfg, tables["train"])
    test = tables.get("test")
    if test is not None and not _has_labels(test, tables["train"], data):
        if cfg.test_split is not None:
            raise DataError(
                f"split {chosen['test']!r} of {name} has no labels",
                hint="pass a labelled --test-split (e.g. validation), or --test-split none",
            )
        logger.warning("split %r of %s has no labels: not evaluated", chosen["test"], name)
        del tables["test"], chosen["test"]
    logger.info(
        "data set %s: %s",
        name,
        ", ".join(f"{role} {spec!r} ({len(tables[role])} rows)" for role, spec in chosen.items()),
    )
    return DatasetTables(name, tables, chosen, data)


# ---------------------------------------------------------------- loading


def _open(source: str, config: str | None, name: str) -> dict[str, Any]:
    """The data set's splits, by name (datasets.Dataset values)."""
    folder = Path(source).expanduser()
    if folder.is_file():
        raise DataError(
            f"--dataset {source} is a file, not a data set folder or Hub id",
            hint=f"pass a single table as the training file: textfit train {source}",
        )
    if folder.is_dir():
        if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
            return _load_saved(folder, config)
        try:
            return _load(str(folder), config, name)
        except _NotFoundError as err:
            raise DataError(
                f"data set folder {source} holds no data files that datasets reads ({err})",
                hint="put Parquet, CSV or JSON Lines files in it (train.csv, test.csv, or "
                "data/train-00000-of-00001.parquet, ...), or a folder written by save_to_disk",
            ) from None
    if source.startswith((".", "/", "~", "\\")) or source.count("/") > 1:
        raise DataError(
            f"data set folder {source} does not exist",
            hint="check the path (relative paths start from the current folder), or pass a Hub id: user/name",
        )
    return _load_hub(source, config, name)


def _load_saved(folder: Path, config: str | None) -> dict[str, Any]:
    """A folder written by Dataset.save_to_disk (one split: "train") or DatasetDict.save_to_disk."""
    import datasets

    if config is not None:
        raise DataError(
            f"{folder} was written by save_to_disk, which keeps no configurations (got {config!r})",
            hint="leave out --dataset-config",
        )
    loaded = datasets.load_from_disk(str(folder))
    return {"train": loaded} if isinstance(loaded, datasets.Dataset) else dict(loaded)


class _NotFoundError(Exception):
    """Datasets found no data (no such data set, no data files, nothing in its cache)."""


def _load(path: str, config: str | None, name: str) -> dict[str, Any]:
    """datasets.load_dataset(path, config), its errors as DataErrors (_NotFoundError: no data there)."""
    import datasets
    from datasets.exceptions import DatasetBuildError

    try:
        with _quiet_datasets():
            loaded = datasets.load_dataset(path, config)
    except ImportError as err:  # a feature (Audio, Image, ...) whose decoder is not installed
        raise DataError(
            f"cannot load data set {name!r}: a package it needs is missing ({err})",
            hint="install the package named above, or pick a data set of texts",
        ) from None
    except DatasetBuildError as err:  # a malformed CSV, files whose columns differ, ...
        cause = " ".join(str(err.__cause__ or err).split())
        raise DataError(
            f"cannot read data set {name!r}: {cause[:300]}",
            hint="fix the data files (each split's files need the same columns)",
        ) from None
    except (FileNotFoundError, ConnectionError) as err:  # also datasets' DataFilesNotFoundError, ...
        raise _NotFoundError(str(err)) from err
    except ValueError as err:
        raise _config_error(err, name, config) from None
    return dict(loaded)


def _config_error(err: ValueError, name: str, config: str | None) -> Exception:
    """A DataError for datasets' configuration errors (listing the configurations); else err itself."""
    text = str(err)
    listed = re.search(r"(?:Available|available configs):\s*(\[.*?\])", text)
    try:
        configs = ", ".join(repr(item) for item in ast.literal_eval(listed.group(1))) if listed else "?"
    except (ValueError, SyntaxError):
        configs = listed.group(1) if listed else "?"
    if text.startswith("Config name is missing"):
        return DataError(
            f"data set {name!r} has several configurations: {configs}",
            hint="pick one with --dataset-config NAME",
        )
    if "not found. Available" in text:
        return DataError(
            f"data set {name.rsplit('/', 1)[0]!r} has no configuration {config!r}. Configurations: {configs}",
            hint="pass --dataset-config with one of them",
        )
    return err


def _load_hub(repo_id: str, config: str | None, name: str) -> dict[str, Any]:
    """A Hub data set: downloaded (or checked) when the Hub answers, else from the local caches.

    Offline, the Hub cache's snapshot of the repository (HF_HUB_CACHE/datasets--user--name, the
    commit that refs/main names) is loaded as a local folder; failing that, what datasets prepared
    in HF_DATASETS_CACHE by an earlier load.
    """
    from huggingface_hub import constants

    if hub_reachable():
        try:
            return _load(repo_id, config, name)
        except _NotFoundError as err:
            if not isinstance(err.__cause__, ConnectionError):
                raise DataError(
                    f"data set {repo_id!r} was not found on the Hugging Face Hub ({err})",
                    hint="check the id (user/name, as on huggingface.co/datasets); a private or gated "
                    "one needs `hf auth login`",
                ) from None
            logger.info("the Hugging Face Hub did not answer (%s): looking in the local cache", err)
    with _offline():
        snapshot = _cached_snapshot(repo_id)
        if snapshot is not None:
            logger.info("data set %r: loading the cached copy %s (offline)", repo_id, snapshot)
            with contextlib.suppress(
                _NotFoundError
            ):  # e.g. a snapshot of the card alone: try datasets' cache
                return _load(snapshot, config, name)
        try:
            return _load(repo_id, config, name)
        except (_NotFoundError, ValueError) as err:  # ValueError: datasets' cache lacks the config
            logger.debug("not in the datasets cache: %s", err)
    given = f" (config {config!r})" if config else ""
    raise DataError(
        f"cannot load data set {repo_id!r}{given}: it is not in the local cache "
        f"({constants.HF_HUB_CACHE}) and the Hugging Face Hub cannot be reached (offline?)",
        hint=_LOCAL_HINT,
    )


def _cached_snapshot(repo_id: str) -> str | None:
    """The Hub cache's folder of the data set's main revision; None when it is not there (or partial)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, repo_type="dataset", local_files_only=True)
    except Exception as err:  # LocalEntryNotFoundError, IncompleteSnapshotError, an invalid id
        logger.debug("no cached snapshot of %r: %s", repo_id, err)
        return None


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Offline mode for datasets and huggingface_hub (no request, no retry) for the duration."""
    import datasets
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """No progress bars or warnings from datasets unless textfit logs at debug level."""
    import datasets
    from datasets.utils import logging as ds_logging

    if logging.getLogger("textfit").getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    level, bars = ds_logging.get_verbosity(), datasets.is_progress_bar_enabled()
    ds_logging.set_verbosity(logging.CRITICAL)  # its errors come back as exceptions, worded here
    with contextlib.suppress(Exception):  # HF_DATASETS_DISABLE_PROGRESS_BARS=0 forbids it
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        ds_logging.set_verbosity(level)
        if bars:
            with contextlib.suppress(Exception):
                datasets.enable_progress_bars()


# ---------------------------------------------------------------- splits as tables


def _split_table(splits: dict[str, Any], spec: str, role: str, name: str) -> Table:
    """The rows of one split spec ('train', 'train[:2000]', 'train[:10%]+validation') as a Table."""
    from datasets import ReadInstruction

    found = ", ".join(repr(split) for split in splits)
    if spec in splits:
        parts = [(spec, 0, len(splits[spec]))]
    else:
        try:
            instruction = ReadInstruction.from_spec(spec)
        except ValueError as err:
            raise DataError(
                f"{_ROLE_FLAGS[role]} {spec!r} is not a split of {name}, nor a slice of one ({err})",
                hint=f"name one of the splits ({found}), optionally sliced: train[:2000], train[:10%]",
            ) from None
        unknown = [
            part.splitname for part in instruction._relative_instructions if part.splitname not in splits
        ]
        if unknown:
            raise DataError(
                f"data set {name} has no split {unknown[0]!r}. Splits found: {found}",
                hint=f"pass {_ROLE_FLAGS[role]} with one of the splits found",
            )
        lengths = {split: len(dataset) for split, dataset in splits.items()}
        parts = [(part.splitname, part.from_, part.to) for part in instruction.to_absolute(lengths)]
    pieces = [dataset_arrow(splits[split], start, stop) for split, start, stop in parts]
    arrow = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    table = Table(Path(f"{name} [{spec}]"), arrow.combine_chunks() if arrow.num_rows else arrow, None)
    if not len(table):
        raise DataError(
            f"{table.path} has no rows", hint=f"pass another {_ROLE_FLAGS[role]} (or a wider slice)"
        )
    return table


def dataset_arrow(dataset: Any, start: int, stop: int) -> pa.Table:
    """Rows start..stop of a datasets.Dataset in Arrow, ClassLabel numbers as their names."""
    from datasets import ClassLabel, LargeList, List

    arrow: pa.Table = dataset.with_format("arrow")[start:stop]
    for column, feature in dataset.features.items():
        if isinstance(feature, ClassLabel):
            arrow = arrow.set_column(
                arrow.schema.get_field_index(column),
                column,
                _class_names(arrow.column(column), feature.names),
            )
        elif isinstance(feature, List | LargeList) and isinstance(feature.feature, ClassLabel):
            names = feature.feature.names  # a multi-label column: lists of names (tasks.py reads lists)
            values = [
                None if row is None else [names[i] for i in row] for row in arrow.column(column).to_pylist()
            ]
            arrow = arrow.set_column(
                arrow.schema.get_field_index(column), column, pa.array(values, pa.list_(pa.string()))
            )
    return arrow


def _class_names(codes: pa.ChunkedArray, names: list[str]) -> pa.ChunkedArray:
    """ClassLabel numbers as their names; -1 (no label, as in GLUE's test splits) as null."""
    codes = codes.cast(pa.int64())
    labelled = pc.greater_equal(codes, 0)
    positions = pc.if_else(labelled, codes, pa.scalar(None, pa.int64()))
    return pc.take(pa.array(names, pa.string()), positions)


def _has_labels(test: Table, train: Table, cfg: DataConfig) -> bool:
    """Whether any row of the test table has a label, in the label column the training table uses."""
    try:
        label = find_columns(train, cfg)["label"]
    except DataError:  # reported when the training table is read
        return True
    if label is None or label not in test.names:
        return False
    values = test.values(label)
    if isinstance(values, pa.ChunkedArray):
        if values.null_count == len(values):
            return False
        try:
            values = pc.unique(values).to_pylist()
        except pa.ArrowNotImplementedError:  # lists
            values = values.to_pylist()
    return any(label_name(value) is not None for value in values)
