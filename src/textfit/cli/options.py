"""The flags several commands share, each defined once: Annotated aliases, and option groups.

An option group is a frozen dataclass whose fields are flags (`TableOptions`: how to read a table).
A command takes it as one parameter, and `@option_groups` shows Typer the group's flags in its place,
then hands the command the group, built from them: short signatures, and no flag that drifts between
commands. A closed set of values is a `Literal`: --help lists it (`--precision <auto|fp32|bf16|fp16>`)
and another value is a usage error (exit 2).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, get_type_hints

import typer

from textfit.config.choices import Precision, TableFormat
from textfit.devices import Device

# The closed sets of the config's settings that have a flag; tests/test_cli.py checks each against the
# config's own field, so the two cannot drift.
Task = Literal["auto", "single_label", "multi_label", "regression"]
LongText = Literal["truncate", "window"]
Loss = Literal["cross_entropy", "focal"]
# Those of the commands themselves.
Backend = Literal["torch", "onnx"]
ExportFormat = Literal["onnx"]
Quantize = Literal["auto", "int8", "none"]
LabelErrorsMethod = Literal["embeddings", "finetune"]

TrainDevice = Annotated[
    Device | None,
    typer.Option(help="auto (default): a CUDA, Apple MPS or Intel XPU GPU where there is one, else the CPU."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings; no progress bars.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also the libraries' own messages.")]
RunDir = Annotated[Path, typer.Argument(help="Run folder written by textfit train.")]
TrainFile = Annotated[Path | None, typer.Argument(help="Training table (CSV, TSV, JSON Lines, Parquet).")]
ValidationFile = Annotated[Path | None, typer.Option(help="Validation table.")]
Model = Annotated[str | None, typer.Option(help="Preset (minilm, mpnet), local model folder, or hub id.")]
MaxLength = Annotated[int | None, typer.Option(help="Tokens kept per text (default 256).")]
TextColumn = Annotated[str | None, typer.Option(help="Text column (default: found from common names).")]
PairColumn = Annotated[
    str | None, typer.Option(help="Second text column: sentence pairs are encoded as real pairs.")
]
LabelColumn = Annotated[str | None, typer.Option(help="Label column (default: found from common names).")]
FORMAT_HELP = "Table format; auto: by the file's extension."
Format = Annotated[TableFormat, typer.Option("--format", help=FORMAT_HELP)]
CheckFormat = Annotated[
    TableFormat, typer.Option("--check-format", help=FORMAT_HELP)
]  # export's --format: onnx
Encoding = Annotated[str | None, typer.Option(help="Text encoding (default: UTF-8, BOMs detected).")]
Delimiter = Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")]
FastPaths = Annotated[
    str,
    typer.Option(help="textfit's CPU prediction paths: all, none, or some of packed,firsttoken,prepack."),
]
InferencePrecision = Annotated[Precision, typer.Option(help="auto: bf16 where the hardware runs it fast.")]
BackendOption = Annotated[Backend, typer.Option(help="onnx: the model `textfit export` wrote and checked.")]
DropInvalid = Annotated[
    bool, typer.Option(help="Drop rows with an empty text or label, and report how many.")
]
GroupColumn = Annotated[
    str | None,
    typer.Option(
        help="Column of groups (a language, a source): rows and labels per group in check, every metric "
        "per group too, weakest first."
    ),
]
TaskOption = Annotated[Task | None, typer.Option(help="What the labels are (default auto: found from them).")]
LabelDelimiter = Annotated[
    str | None, typer.Option(help="Joins several labels in a label cell, e.g. '|': multi-label.")
]
LabelMap = Annotated[
    str | None,
    typer.Option(
        help="Rename labels as they are read, in every file: OLD=NEW,... e.g. 'Spam=spam,1.0=1' "
        "(merges spellings; a name no row has is an error; evaluate's default: the run's data.label_map)."
    ),
]
AllowPickle = Annotated[
    bool, typer.Option(help="Load pickled weights (.bin) where there are no safetensors: they can run code.")
]
TrustRemoteCode = Annotated[
    bool, typer.Option(help="Let the model run its own Python code (off by default).")
]
Dataset = Annotated[
    str | None,
    typer.Option(
        help="Data set instead of TRAIN_FILE: a Hugging Face Hub id (glue, dair-ai/emotion), a folder "
        "laid out like a Hub data set, or a save_to_disk folder."
    ),
]
DatasetConfig = Annotated[str | None, typer.Option(help="Configuration of the data set, e.g. mrpc of glue.")]
TrainSplit = Annotated[
    str | None, typer.Option(help="Split of the data set to train on (default train); slices: train[:2000].")
]
ValidationSplitName = Annotated[
    str | None,
    typer.Option(
        help="Split to validate on (default: validation, valid or dev, else a share of the training "
        "split); none: that share."
    ),
]
TestSplit = Annotated[
    str | None,
    typer.Option(help="Split evaluated after training (default: test, if labelled); none: no test."),
]


def _data(**values: Any) -> dict[str, Any]:
    return {f"data.{key}": value for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class DatasetOptions:
    """A data set to read instead of TRAIN_FILE (check, train, tune)."""

    dataset: Dataset = None
    dataset_config: DatasetConfig = None
    train_split: TrainSplit = None
    validation_split_name: ValidationSplitName = None
    test_split: TestSplit = None

    def overrides(self, train_file: Path | None) -> dict[str, Any]:
        """The data.* settings; TRAIN_FILE and --dataset together are a usage error."""
        if train_file is not None and self.dataset is not None:
            raise typer.BadParameter(
                f"give a training file ({train_file}) or --dataset ({self.dataset}), not both",
                param_hint="--dataset",
            )
        return _data(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """How to read a table: every command that reads one."""

    text_column: TextColumn = None
    text_pair_column: PairColumn = None
    table_format: Format = "auto"
    encoding: Encoding = None
    delimiter: Delimiter = None

    def overrides(self) -> dict[str, Any]:
        """The data.* settings; --format auto leaves a --config's format as it is."""
        values = dataclasses.asdict(self)
        table_format = values.pop("table_format")
        return _data(format=None if table_format == "auto" else table_format, **values)


@dataclasses.dataclass(frozen=True)
class CheckTableOptions(TableOptions):
    """How to read export's --check table (its --format is the export's own)."""

    table_format: CheckFormat = "auto"


@dataclasses.dataclass(frozen=True)
class LabelOptions:
    """How to read a table's labels (check, train, tune, evaluate)."""

    label_column: LabelColumn = None
    group_column: GroupColumn = None
    label_map: LabelMap = None
    drop_invalid: DropInvalid = False

    def overrides(self) -> dict[str, Any]:
        """The data.* settings; no --drop-invalid leaves a --config's setting as it is."""
        return _data(**(dataclasses.asdict(self) | {"drop_invalid": self.drop_invalid or None}))


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """What the labels are (check, train)."""

    task: TaskOption = None
    label_delimiter: LabelDelimiter = None

    def overrides(self) -> dict[str, Any]:
        """The model.task and data.label_delimiter settings."""
        return {"model.task": self.task, "data.label_delimiter": self.label_delimiter}


@dataclasses.dataclass(frozen=True)
class LabelErrorOptions:
    """Finding the training rows whose label is probably wrong (check, train)."""

    label_errors: Annotated[
        bool,
        typer.Option(
            "--label-errors",
            help="Find training rows whose label is probably wrong (out-of-fold predictions, cleanlab).",
        ),
    ] = False
    label_errors_method: Annotated[
        LabelErrorsMethod,
        typer.Option(
            help="embeddings: a logistic regression on the frozen model's embeddings (minutes); finetune: "
            "a fine-tuned model per fold (k trainings)."
        ),
    ] = "embeddings"
    folds: Annotated[int, typer.Option(min=2, help="Folds of the out-of-fold predictions.")] = 5
    label_errors_epochs: Annotated[
        float | None, typer.Option(help="Epochs of each fold's training (finetune; default: train.epochs).")
    ] = None

    def check_asked(self, asked: bool) -> None:
        """Fail on a label-errors flag given where label errors are not asked for (`asked`).

        Raises:
            typer.BadParameter: naming the flags and --label-errors.
        """
        defaults = {"label_errors_method": "embeddings", "folds": 5, "label_errors_epochs": None}
        given = [name for name, default in defaults.items() if getattr(self, name) != default]
        if given and not asked:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise typer.BadParameter(f"{flags} apply with --label-errors", param_hint="--label-errors")


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """What loading a model may do (train, evaluate, predict, serve)."""

    allow_pickle: AllowPickle = False
    trust_remote_code: TrustRemoteCode = False

    def overrides(self) -> dict[str, Any]:
        """The model.* settings; flags not given leave a --config's settings as they are."""
        return {
            "model.allow_pickle": self.allow_pickle or None,
            "model.trust_remote_code": self.trust_remote_code or None,
        }


class _Group(Protocol):
    def overrides(self) -> dict[str, Any]: ...


def overrides_of(*groups: _Group) -> dict[str, Any]:
    """The dotted settings of option groups, merged."""
    merged: dict[str, Any] = {}
    for group in groups:
        merged |= group.overrides()
    return merged


def option_groups(command: Callable[..., None]) -> Callable[..., None]:
    """The command with each option group parameter shown to Typer as the group's flags.

    Typer reads `__signature__`: there each group's fields stand in the group's place (every
    parameter keyword-only, as Typer passes them). The call gathers the fields back into the group.
    """
    hints = get_type_hints(command, include_extras=True)
    groups: dict[str, Any] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        kind = hints.get(param.name, param.annotation)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            groups[param.name] = kind
            fields = get_type_hints(kind, include_extras=True)
            params += [
                inspect.Parameter(
                    field.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=field.default,
                    annotation=fields[field.name],
                )
                for field in dataclasses.fields(kind)
            ]
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=kind))
    names = [param.name for param in params]
    if len(set(names)) < len(names):
        raise TypeError(f"{command.__name__}: a flag of an option group has the name of another parameter")

    @functools.wraps(command)
    def run(**values: Any) -> None:
        for name, group in groups.items():
            values[name] = group(
                **{field.name: values.pop(field.name) for field in dataclasses.fields(group)}
            )
        command(**values)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {param.name: param.annotation for param in params}
    return run


def fast_path_names(value: str) -> tuple[str, ...]:
    """--fast-paths as names: all, none, or a comma-separated list (checked by Classifier.load)."""
    from textfit.inference.backends import FAST_PATHS

    if value.strip() == "all":
        return FAST_PATHS
    if value.strip() == "none":
        return ()
    return tuple(name.strip() for name in value.split(",") if name.strip())
