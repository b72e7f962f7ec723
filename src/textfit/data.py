"""Read labelled tables, find their columns, validate rows, map labels and make the splits."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from textfit.config import DataConfig
from textfit.errors import DataError, list_problems

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "sentence", "review", "message", "content")
LABEL_COLUMNS = ("label", "labels", "category", "class", "target", "sentiment")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _count(n: int, singular: str, plural: str) -> str:
    """'1 row has' / '3 rows have': a count with the words that agree with it."""
    return f"{n} {singular if n == 1 else plural}"


def _where(row_index: int, line_numbers: list[int] | None) -> str:
    """'row 17 (line 18)': the 1-based data row, and its physical line where the format has lines."""
    if line_numbers is None:
        return f"row {row_index + 1}"
    return f"row {row_index + 1} (line {line_numbers[row_index]})"


@dataclass
class Table:
    """A table read from one file: its columns, and the line each data row starts on."""

    path: Path
    columns: dict[str, list[Any]]
    line_numbers: list[int] | None = None  # None where a format has no lines (Parquet)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def where(self, row_index: int) -> str:
        """Where data row `row_index` (0-based) is: 'row 17 (line 18)'."""
        return _where(row_index, self.line_numbers)


@dataclass
class Examples:
    """The usable rows of one table: texts, optional second texts, and label names."""

    source: Path
    texts: list[str]
    labels: list[str]
    text_pairs: list[str] | None = None
    dropped: int = 0
    rows: list[int] | None = None  # 0-based row in the source table of each example
    line_numbers: list[int] | None = None  # physical line of each source table row

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, index: int) -> str:
        """Where example `index` is in its file: 'row 17 (line 18)'."""
        return _where(index if self.rows is None else self.rows[index], self.line_numbers)

    def subset(self, indices: Sequence[int]) -> Examples:
        """The examples at `indices`, in that order."""
        return Examples(
            source=self.source,
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            text_pairs=None if self.text_pairs is None else [self.text_pairs[i] for i in indices],
            rows=[self.rows[i] for i in indices] if self.rows is not None else list(indices),
            line_numbers=self.line_numbers,
        )


@dataclass
class Splits:
    """Training, validation and (optional) test examples, with the warnings found on the way."""

    train: Examples
    validation: Examples
    columns: Columns
    test: Examples | None = None
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading


def table_format(path: Path, fmt: str = "auto") -> str:
    """The table format: `fmt` when given, else from the file extension."""
    if fmt != "auto":
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"cannot tell the format of {path} from its extension {path.suffix!r}",
            hint="name it .csv, .tsv, .jsonl or .parquet, or pass --format csv|tsv|jsonl|parquet",
        )
    return found


def _decode(path: Path, raw: bytes, encoding: str | None) -> str:
    """Decode bytes: the given encoding, else a BOM's, else UTF-8; name the line of a bad byte."""
    if encoding is None:
        encoding = next((name for bom, name in BOMS if raw.startswith(bom)), "utf-8")
    elif encoding.lower().replace("_", "-") in ("utf-8", "utf8") and raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except LookupError:
        raise DataError(
            f"unknown encoding {encoding!r}", hint="pass a Python codec name such as utf-8, latin-1"
        ) from None
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"cannot read {path} as {encoding.upper()} (invalid byte 0x{raw[err.start]:02x} in line {line})",
            hint="re-save the file as UTF-8, or pass --encoding latin-1 (or the file's encoding)",
        ) from None


def _sniff_delimiter(path: Path, text: str) -> str:
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        header = sample.lstrip("\ufeff").split("\n", 1)[0]
        one_column = not any(candidate in header for candidate in ",\t;|")  # a file of texts
        if one_column or "\n" not in sample.strip() or "," in sample:
            return ","
        raise DataError(
            f"cannot tell the delimiter of {path}", hint="pass --delimiter ',' (or '\\t', ';', '|')"
        ) from None


def _read_delimited(path: Path, text: str, delimiter: str) -> Table:
    csv.field_size_limit(2**31 - 1)  # the default (131,072 characters) rejects long documents
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path} is empty", hint="a table needs a header row and data rows") from None
    except csv.Error as err:
        raise DataError(f"cannot parse the header of {path}: {err}") from None
    header = [name.strip() for name in header]
    duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicated:
        raise DataError(
            f"{path} has the column name {duplicated[0]!r} more than once",
            hint="give every column of the header row its own name",
        )
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    ragged: list[str] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if record:  # a blank line is no row
                if len(record) != len(header):
                    ragged.append(f"row {len(rows) + 1} (line {start}) has {len(record)}")
                rows.append(record)
                line_numbers.append(start)
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(
            f"cannot parse {path}: the row starting at line {start} is malformed ({err})",
            hint="check the quoting around that line (an unclosed quote swallows the lines after it)",
        ) from None
    if ragged:
        raise DataError(
            f"{path}: {_count(len(ragged), 'row does', 'rows do')} not have the "
            f"{len(header)} fields of the header: "
            f"{list_problems(ragged)}",
            hint="quote fields that contain the delimiter, or pass --delimiter if it was guessed wrong",
        )
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    return Table(path, columns, line_numbers)


def _read_jsonl(path: Path, text: str) -> Table:
    records: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    # Split at "\n" only: str.splitlines() also splits at U+2028 and U+0085, which JSON strings hold.
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}: line {line_number} is not valid JSON ({err.msg})",
                hint="each line of a JSON Lines file must be one JSON object",
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {line_number} is not a JSON object")
        records.append(record)
        line_numbers.append(line_number)
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {name: [record.get(name) for record in records] for name in names}
    return Table(path, columns, line_numbers)


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataError(f"cannot read {path} as Parquet: {err}") from None
    return Table(path, arrow.to_pydict(), None)


def read_table(
    path: Path, fmt: str = "auto", encoding: str | None = None, delimiter: str | None = None
) -> Table:
    """Read a CSV, TSV, JSON Lines or Parquet file.

    Raises:
        DataError: the file is missing, undecodable, or not a well-formed table.
    """
    if not path.is_file():
        raise DataError(
            f"{path} does not exist" if not path.exists() else f"{path} is not a file",
            hint="check the path (relative paths start from the current folder)",
        )
    fmt = table_format(path, fmt)
    if fmt == "parquet":
        table = _read_parquet(path)
    else:
        text = _decode(path, path.read_bytes(), encoding)
        if fmt == "jsonl":
            table = _read_jsonl(path, text)
        else:
            default = "\t" if fmt == "tsv" else None
            table = _read_delimited(path, text, delimiter or default or _sniff_delimiter(path, text))
    if len(table) == 0:
        raise DataError(f"{path} has no data rows", hint="a table needs a header row and data rows")
    return table


# ---------------------------------------------------------------- columns and rows


def _pick_column(table: Table, given: str | None, candidates: Iterable[str], role: str) -> str:
    found = ", ".join(repr(name) for name in table.columns)
    if given is not None:
        if given not in table.columns:
            raise DataError(
                f"{table.path} has no column {given!r}. Columns found: {found}",
                hint=f"pass --{role}-column with one of the columns found",
            )
        return given
    by_lower = {name.lower(): name for name in table.columns}
    for candidate in candidates:
        if candidate in by_lower:
            return by_lower[candidate]
    raise DataError(
        f"{table.path}: no {role} column found among the usual names "
        f"({', '.join(candidates)}). Columns found: {found}",
        hint=f"pass --{role}-column NAME",
    )


class Columns(TypedDict):
    """The columns a table is read by: the text, the optional second text, and the label."""

    text: str
    text_pair: str | None
    label: str | None


def find_columns(table: Table, cfg: DataConfig, need_label: bool = True) -> Columns:
    """The text, pair and label columns: those given in cfg, or found from common names.

    Without `need_label` (prediction) no label column is looked for.
    """
    text = _pick_column(table, cfg.text_column, TEXT_COLUMNS, "text")
    label: str | None = None
    if need_label:
        label = _pick_column(table, cfg.label_column, LABEL_COLUMNS, "label")
    pair = None
    if cfg.text_pair_column is not None:
        pair = _pick_column(table, cfg.text_pair_column, (), "text-pair")
    if label == text:
        raise DataError(
            f"{table.path}: the text and label columns are both {text!r}",
            hint="pass --text-column and --label-column naming two different columns",
        )
    return Columns(text=text, text_pair=pair, label=label)


def with_trained_columns(cfg: DataConfig, table: Table, trained: dict[str, Any]) -> DataConfig:
    """cfg, with the columns a model was trained on where cfg names none and the table has them.

    Args:
        cfg: how the user asked to read the table.
        table: the table to predict or evaluate.
        trained: the model's {"text_column", "text_pair_column", "label_column"} names.

    Raises:
        DataError: the model takes sentence pairs and the table lacks the second text column.
    """
    filled = {
        key: trained[key]
        for key in ("text_column", "label_column", "text_pair_column")
        if getattr(cfg, key) is None and trained.get(key) in table.columns
    }
    pair = trained.get("text_pair_column")
    if pair and cfg.text_pair_column is None and "text_pair_column" not in filled:
        found = ", ".join(repr(name) for name in table.columns)
        raise DataError(
            f"{table.path}: the model was trained on sentence pairs (second text in column "
            f"{pair!r}), and this table has no column {pair!r}. Columns found: {found}",
            hint="pass --text-pair-column with the column that holds the second texts",
        )
    return cfg.model_copy(update=filled)


def label_name(value: Any) -> str | None:
    """A label value as its name: strings stripped, whole floats as integers; None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    name = str(value).strip()
    return name or None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def table_examples(table: Table, columns: Columns, drop_invalid: bool, need_labels: bool = True) -> Examples:
    """Validate the rows of a table into Examples.

    Rows with an empty text (or label, when `need_labels`) fail with every such row named, or, with
    `drop_invalid`, are dropped and counted.
    """
    texts: list[str] = []
    pairs: list[str] | None = [] if columns["text_pair"] else None
    labels: list[str] = []
    kept: list[int] = []
    bad: dict[str, list[str]] = {}
    label_values = table.columns[columns["label"]] if need_labels and columns["label"] else None
    for index in range(len(table)):
        text = _text(table.columns[columns["text"]][index])
        pair = _text(table.columns[columns["text_pair"]][index]) if columns["text_pair"] else ""
        label = label_name(label_values[index]) if label_values is not None else ""
        for kind, value in (("text", text), ("text_pair", pair), ("label", label)):
            if value is None:
                bad.setdefault(kind, []).append(table.where(index))
        if text is None or pair is None or label is None:
            continue
        texts.append(text)
        labels.append(label)
        kept.append(index)
        if pairs is not None:
            pairs.append(pair)
    dropped = len(table) - len(texts)
    if bad and not drop_invalid:
        problems = "; ".join(
            f"{_count(len(rows), 'row has', 'rows have')} an empty {kind.replace('_', ' ')} "
            f"in column {columns[kind]!r}: {list_problems(rows)}"  # type: ignore[literal-required]
            for kind, rows in bad.items()
        )
        raise DataError(
            f"{table.path}: {problems}",
            hint="fill in or delete these rows, or pass --drop-invalid to skip them (they are counted)",
        )
    if dropped:
        logger.warning("%s: dropped %d rows with an empty text or label", table.path, dropped)
    if not texts:
        raise DataError(f"{table.path}: no usable rows left", hint="every row had an empty field")
    return Examples(table.path, texts, labels, pairs, dropped, kept, table.line_numbers)


def read_examples(path: Path, cfg: DataConfig, need_labels: bool = True) -> Examples:
    """Read a table and return its validated examples (see `read_table`, `table_examples`)."""
    table = read_table(path, cfg.format, cfg.encoding, cfg.delimiter)
    columns = find_columns(table, cfg, need_labels)
    return table_examples(table, columns, cfg.drop_invalid, need_labels)


# ---------------------------------------------------------------- labels


def _label_sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


@dataclass(frozen=True)
class LabelSet:
    """The label names in a stable order (numbers numerically, then strings), and their ids."""

    names: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelSet:
        """All distinct names in `labels`, sorted."""
        return cls(tuple(sorted(set(labels), key=_label_sort_key)))

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> id (the Hugging Face config name)."""
        return {name: index for index, name in enumerate(self.names)}

    @property
    def id2label(self) -> dict[int, str]:
        """Id -> label name (the Hugging Face config name)."""
        return dict(enumerate(self.names))

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, examples: Examples) -> list[int]:
        """Label ids of the examples; fails naming the rows whose label the model does not know."""
        label2id = self.label2id
        unknown = [
            f"{examples.where(i)} has label {label!r}"
            for i, label in enumerate(examples.labels)
            if label not in label2id
        ]
        if unknown:
            known = ", ".join(repr(name) for name in self.names)
            raise DataError(
                f"{examples.source}: {_count(len(unknown), 'row has', 'rows have')} a label "
                "the model was not trained on: "
                f"{list_problems(unknown)}.\n  Labels the model knows: {known}",
                hint="fix those labels, or retrain with them in the training file",
            )
        return [label2id[label] for label in examples.labels]


# ---------------------------------------------------------------- splits


def _check_classes(examples: Examples) -> None:
    counts = Counter(examples.labels)
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(
            f"{examples.source}: every row has the label {only!r}; a classifier needs at least 2 classes",
            hint="check --label-column, or add examples of the other classes",
        )


def _stratified_split(examples: Examples, share: float, seed: int) -> tuple[Examples, Examples]:
    from sklearn.model_selection import train_test_split

    counts = Counter(examples.labels)
    rare = sorted(name for name, count in counts.items() if count < 2)
    if rare:
        listed = ", ".join(f"{name!r} ({counts[name]} row)" for name in rare[:10])
        raise DataError(
            f"{examples.source}: cannot make a stratified validation split: "
            f"{_count(len(rare), 'class has', 'classes have')} fewer than 2 rows: {listed}",
            hint="add rows for these classes, remove them, or pass --validation-file",
        )
    n_validation = math.ceil(share * len(examples))
    if n_validation < len(counts):
        # Rounded up, so that the suggested share never prints as 0.00 or falls short.
        suggested = min(0.5, math.ceil(len(counts) / len(examples) * 150) / 100)
        raise DataError(
            f"{examples.source}: a validation split of {share:g} gives "
            f"{_count(n_validation, 'row', 'rows')}, fewer than the {len(counts)} classes",
            hint=f"pass --validation-split {suggested:.2f} or larger, or --validation-file",
        )
    n_train = len(examples) - n_validation
    if n_train < len(counts):
        raise DataError(
            f"{examples.source}: a validation split of {share:g} leaves "
            f"{_count(n_train, 'row', 'rows')} for training, fewer than the {len(counts)} classes",
            hint="pass a smaller --validation-split, or --validation-file",
        )
    train_idx, val_idx = train_test_split(
        list(range(len(examples))),
        test_size=n_validation,
        stratify=examples.labels,
        random_state=seed,
    )
    return examples.subset(train_idx), examples.subset(val_idx)


def _duplicate_warnings(train: Examples, validation: Examples) -> list[str]:
    def keys(examples: Examples) -> list[tuple[str, str]]:
        pairs = examples.text_pairs or [""] * len(examples)
        return list(zip(examples.texts, pairs, strict=True))

    warnings = []
    train_keys = keys(train)
    repeats = len(train_keys) - len(set(train_keys))
    if repeats:
        warnings.append(
            f"{train.source}: {_count(repeats, 'training row repeats', 'training rows repeat')} "
            "an earlier row's text; "
            "repeats weigh more in training and can inflate validation scores"
        )
    overlap = len(set(train_keys) & set(keys(validation)))
    if overlap:
        warnings.append(
            f"{_count(overlap, 'validation text also appears', 'validation texts also appear')} "
            "in the training data; "
            "validation scores will be optimistic (deduplicate, or split by group)"
        )
    return warnings


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Read the training, validation and test tables named in cfg.

    Without a validation file, a stratified, seeded share of the training file is held out.

    Raises:
        DataError: naming the file, rows and columns of every problem, with a hint.
    """
    if cfg.train_file is None:
        raise DataError("no training file given", hint="textfit train data.csv")
    table = read_table(cfg.train_file, cfg.format, cfg.encoding, cfg.delimiter)
    columns = find_columns(table, cfg)
    examples = table_examples(table, columns, cfg.drop_invalid)
    _check_classes(examples)
    if cfg.validation_file is not None:
        train, validation = examples, read_examples(cfg.validation_file, cfg)
    else:
        train, validation = _stratified_split(examples, cfg.validation_split, seed)
        train.dropped = examples.dropped
    test = read_examples(cfg.test_file, cfg) if cfg.test_file is not None else None
    labels = LabelSet.from_labels(train.labels)
    for evaluated in (validation, test):
        if evaluated is not None:
            labels.encode(evaluated)  # fail now on unknown labels, not after training
    splits = Splits(train, validation, columns, test, _duplicate_warnings(train, validation))
    for warning in splits.warnings:
        logger.warning(warning)
    return splits
