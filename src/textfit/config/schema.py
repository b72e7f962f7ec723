"""The one typed run configuration: RunConfig and its sections, each setting with its default and checks.

`textfit.config.loading` builds it from defaults < YAML file < command-line flags, validated once.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from textfit.config.choices import (
    BEST_MODEL_METRICS,
    TRACKERS,
    Precision,
    Scheduler,
    Strategy,
    TableFormat,
)
from textfit.config.trainer import Device, TrainerArgs


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Section):
    """Where the labelled rows come from and how to read them."""

    train_file: Path | None = Field(None, description="Training table (CSV, TSV, JSON Lines, Parquet).")
    validation_file: Path | None = Field(
        None, description="Validation table; when absent, a stratified split of the training file."
    )
    test_file: Path | None = Field(None, description="Test table, evaluated after training.")
    dataset: str | None = Field(
        None,
        description="Data set to train on instead of train_file: a Hugging Face Hub id (glue, "
        "dair-ai/emotion), a folder laid out like a Hub data set repository (Parquet, CSV, JSON files), "
        "or a folder written by save_to_disk.",
    )
    dataset_config: str | None = Field(
        None, description="Configuration (subset) of the data set, e.g. mrpc of glue."
    )
    train_split: str = Field(
        "train", description="Split of the data set to train on; slices work: train[:2000], train[:10%]."
    )
    validation_split_name: str | None = Field(
        None,
        description="Split of the data set to validate on; null: its validation (or valid, dev) split, "
        "else a stratified validation_split share of the training split; none: always that share.",
    )
    test_split: str | None = Field(
        None,
        description="Split of the data set evaluated after training; null: its test split, where that "
        "has labels; none: no test split.",
    )
    format: TableFormat = Field("auto", description="Table format; 'auto' goes by file extension.")
    encoding: str | None = Field(
        None, description="Text encoding, e.g. latin-1; null: UTF-8, or UTF-16 / UTF-8 with a BOM."
    )
    delimiter: str | None = Field(None, description="CSV delimiter; null: sniffed among , ; TAB |.")
    text_column: str | None = Field(
        None, description="Text column; null: found from common names (text, sentence, review, ...)."
    )
    text_pair_column: str | None = Field(
        None, description="Second text column for sentence-pair tasks, encoded as a real pair."
    )
    label_column: str | None = Field(
        None, description="Label column; null: found from common names (label, category, class, ...)."
    )
    label_delimiter: str | None = Field(
        None, description="Joins several labels in one label cell (e.g. '|'): a multi-label task."
    )
    label_map: dict[str, str] = Field(
        default_factory=dict,
        description="Label spellings merged while reading every table (training, validation, test, "
        "evaluated): old: new, e.g. {Spam: spam, '1.0': '1'}; on the command line 'Spam=spam,1.0=1'. "
        "Compared after surrounding spaces are removed; a name no row has is an error.",
    )
    group_column: str | None = Field(
        None,
        description="Column of groups (a language, a source): `textfit check` counts rows and labels per "
        "group, and every validation and test metric is also reported per group.",
    )
    validation_split: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of the training file held out for validation."
    )
    drop_invalid: bool = Field(
        False,
        description="Drop rows with an empty text or label (and report them) instead of failing.",
    )
    cache: bool = Field(
        True,
        description="Reuse the token ids of unchanged texts and tokenizer from $TEXTFIT_CACHE "
        "(else ~/.cache/textfit); false: tokenize on every run.",
    )

    @field_validator("label_map", mode="before")
    @classmethod
    def _label_mapping(cls, value: Any) -> Any:
        if isinstance(value, str):  # "Spam=spam,1.0=1"
            parts = [part.partition("=") for part in value.split(",") if part.strip()]
            bad = [old for old, sep, _ in parts if not sep]
            if bad:
                raise ValueError(f"{bad[0].strip()!r} is not OLD=NEW (e.g. 'Spam=spam,1.0=1')")
            value = {old: new for old, _, new in parts}
        if isinstance(value, dict):
            mapping = {}
            for old, new in value.items():
                if isinstance(old, bool | list | dict) or isinstance(new, bool | list | dict) or new is None:
                    raise ValueError(f"label {old!r} must map to a label name, not {new!r}")
                names = str(old).strip(), str(new).strip()
                if not all(names):
                    raise ValueError(f"an empty label name in {old!r}: {new!r}")
                mapping[names[0]] = names[1]
            return mapping
        return value

    @model_validator(mode="after")
    def _one_training_source(self) -> DataConfig:
        if self.train_file is not None and self.dataset is not None:
            raise ValueError(
                f"give a training file ({self.train_file}) or a data set ({self.dataset}), not both"
            )
        return self


class ModelConfig(_Section):
    """Which pretrained encoder to fine-tune."""

    name: str = Field("minilm", description="Preset (minilm, mpnet), local folder or hub id.")
    task: Literal["auto", "single_label", "multi_label", "regression"] = Field(
        "auto",
        description="auto: lists (JSON or data.label_delimiter) are multi_label, numbers with decimals "
        "regression, anything else single_label.",
    )
    max_length: int = Field(
        256, ge=8, le=8192, description="Tokens kept per text; longer texts are cut (the share is reported)."
    )
    long_text: Literal["truncate", "window"] = Field(
        "truncate",
        description="Texts over max_length: truncate (cut), or window (overlapping windows in training "
        "and prediction, the window logits averaged or maxed per text).",
    )
    stride: int = Field(64, ge=0, description="long_text window: tokens each window shares with the last.")
    window_aggregation: Literal["mean", "max"] = Field(
        "mean", description="long_text window: how a text's window logits become its logits."
    )
    trust_remote_code: bool = Field(
        False, description="Allow a hub model to run its own Python code (off: safe by default)."
    )
    allow_pickle: bool = Field(
        False, description="Load pickled weights (pytorch_model.bin) where there is no safetensors file."
    )

    @model_validator(mode="after")
    def _stride_below_half(self) -> ModelConfig:
        if self.long_text == "window" and self.stride >= self.max_length // 2:
            raise ValueError(
                f"stride {self.stride} must be below half of max_length {self.max_length} "
                f"(below {self.max_length // 2}), or windows barely move"
            )
        return self


class TrainConfig(_Section):
    """How to fine-tune: the settings of the Hugging Face Trainer that users change."""

    epochs: float = Field(3.0, gt=0, description="Number of passes over the training set.")
    learning_rate: float = Field(1e-4, gt=0, description="Peak learning rate of AdamW.")
    lr_scheduler: Scheduler = Field("linear", description="Learning-rate schedule after the warmup.")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="Share of the steps spent warming up.")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay.")
    batch_size: int = Field(32, ge=1, description="Training batch size per device.")
    eval_batch_size: int = Field(64, ge=1, description="Evaluation batch size per device.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Batches per optimiser step.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    eval_strategy: Strategy = Field("epoch", description="When to evaluate on validation.")
    eval_steps: int | None = Field(
        None, ge=1, description="Steps between evaluations (with eval_strategy 'steps')."
    )
    save_strategy: Strategy = Field("epoch", description="When to save a checkpoint.")
    save_steps: int | None = Field(
        None, ge=1, description="Steps between checkpoints (with save_strategy 'steps'; else 500)."
    )
    logging_strategy: Strategy = Field("steps", description="When to log the training loss.")
    logging_steps: int = Field(
        50, ge=1, description="Steps between logs of the training loss (with logging_strategy 'steps')."
    )
    device: Device = "auto"
    precision: Precision = Field(
        "auto", description="auto: bf16 where the hardware runs it fast, fp32 elsewhere."
    )
    load_best_model_at_end: bool = Field(
        True, description="Keep the checkpoint with the best validation metric."
    )
    metric_for_best_model: str = Field(
        "f1_macro",
        description="Validation metric that picks the best checkpoint (and early stopping's): "
        + ", ".join(BEST_MODEL_METRICS)
        + ".",
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        description="Stop after this many evaluations without improvement; null: never stop early.",
    )
    group_by_length: bool = Field(True, description="Batch texts of similar length together.")
    cpu_fast_path: bool = Field(
        True, description="On a CPU, train with textfit's cheaper dropout masks and attention."
    )
    freeze_embeddings: bool = Field(
        False, description="Keep the word-embedding matrix as pretrained (the other weights train)."
    )
    report_to: list[str] = Field(
        default_factory=lambda: ["none"],
        description="Experiment trackers the Trainer logs to: none, or some of "
        + ", ".join(TRACKERS)
        + " (tensorboard writes to RUN_DIR/tensorboard; mlflow to $MLFLOW_TRACKING_URI).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning", description="Log level of transformers inside the Trainer."
    )
    seed: int = Field(42, description="Seed for the split, initialisation and data order.")
    keep_checkpoints: bool = Field(
        False, description="Keep the last checkpoint in RUN/checkpoints (removed after success by default)."
    )
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mlu"] | None = Field(
        None,
        description="torch.distributed backend of a multi-process run; default nccl on GPUs, gloo on CPUs.",
    )
    deepspeed: str | None = Field(None, description="DeepSpeed config (JSON file), passed to the Trainer.")
    fsdp: str | None = Field(
        None, description="FSDP options passed to the Trainer, e.g. 'full_shard auto_wrap'."
    )
    class_weights: Literal["none", "balanced"] | dict[str, float] = Field(
        "none",
        description="Loss weight per class: none; balanced (rows / (classes * rows of the class)); "
        "or label: weight (others weigh 1), on the command line spam=5,ham=1.",
    )
    loss: Literal["cross_entropy", "focal"] = Field(
        "cross_entropy", description="Training loss of a classifier: cross_entropy or focal."
    )
    focal_gamma: float = Field(2.0, ge=0.0, description="Focal loss: rows scaled by (1 - p_true) ** gamma.")
    trainer_args: TrainerArgs = Field(default_factory=dict)

    @field_validator("class_weights", mode="before")
    @classmethod
    def _weights_mapping(cls, value: Any) -> Any:
        if isinstance(value, str) and "=" in value:  # "spam=5,ham=1"
            pairs = [part.partition("=") for part in value.split(",") if part.strip()]
            value = {name.strip(): weight.strip() for name, _, weight in pairs}
        if isinstance(value, dict):
            for name, weight in value.items():
                if isinstance(weight, bool) or not isinstance(weight, int | float | str):
                    raise ValueError(f"the weight of {name!r} must be a number")
                try:
                    number = float(weight)
                except ValueError:
                    raise ValueError(f"the weight of {name!r} must be a number, not {weight!r}") from None
                if not number > 0:  # also NaN
                    raise ValueError(f"the weight of {name!r} must be above 0, not {weight}")
            return {str(name): float(weight) for name, weight in value.items()}
        return value

    @field_validator("eval_strategy", "save_strategy", "logging_strategy", mode="before")
    @classmethod
    def _yaml_no(cls, value: Any) -> Any:
        return "no" if value is False else value  # YAML reads a bare `no` as false

    @field_validator("metric_for_best_model")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        name = value.removeprefix("eval_")
        if name not in BEST_MODEL_METRICS:
            close = difflib.get_close_matches(name, BEST_MODEL_METRICS, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown metric {value!r}{suggestion}; choose one of {', '.join(BEST_MODEL_METRICS)}"
            )
        return name

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_tracker_as_list(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else value

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, value: list[str]) -> list[str]:
        names = [name.strip().lower() for name in value]
        for name in names:
            if name != "none" and name not in TRACKERS:
                close = difflib.get_close_matches(name, ["none", *TRACKERS], n=1)
                suggestion = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown tracker {name!r}{suggestion}; choose none, or one or more of "
                    + ", ".join(TRACKERS)
                )
        if "none" in names and len(names) > 1:
            raise ValueError("'none' cannot be given with other trackers")
        return list(dict.fromkeys(names)) or ["none"]

    @model_validator(mode="after")
    def _steps_need_counts(self) -> TrainConfig:
        if self.load_best_model_at_end and self.eval_strategy != self.save_strategy:
            raise ValueError(
                "load_best_model_at_end needs eval_strategy and save_strategy to match "
                f"(got {self.eval_strategy!r} and {self.save_strategy!r}); set them to the same "
                "value, or set load_best_model_at_end to false"
            )
        return self


class TuneConfig(_Section):
    """What `textfit tune` searches: trials, and a range per setting (null: keep the train setting)."""

    n_trials: int = Field(
        20, ge=1, description="Trials in the study in all (a resumed study counts its own)."
    )
    timeout: float | None = Field(
        None, gt=0, description="Stop starting trials after this many seconds; null: no limit."
    )
    pruning: bool = Field(
        True, description="Stop a trial early when its validation metric is below the median of earlier ones."
    )
    keep_trial_models: bool = Field(
        False, description="Keep every trial's model; false: only RUN_DIR/best keeps one (saves disk)."
    )
    learning_rate: tuple[float, float] | None = Field(
        (1e-5, 3e-4), description="[low, high] of the learning rate, searched on a log scale."
    )
    epochs: tuple[int, int] | None = Field((1, 5), description="[low, high] of the epochs (whole numbers).")
    batch_size: list[int] | None = Field([16, 32], description="Batch sizes to choose among.")
    warmup_ratio: tuple[float, float] | None = Field(
        (0.0, 0.2), description="[low, high] of the warmup share."
    )
    weight_decay: tuple[float, float] | None = Field(
        (0.0, 0.1), description="[low, high] of the weight decay."
    )

    @field_validator("learning_rate", "epochs", "warmup_ratio", "weight_decay")
    @classmethod
    def _a_range(cls, value: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        if value is None:
            return value
        low, high = value
        if not 0 <= low <= high:
            raise ValueError(f"[{low}, {high}] is not a range: give [low, high], 0 <= low <= high")
        if info.field_name == "learning_rate" and low <= 0:
            raise ValueError("a log scale needs a low above 0")
        if info.field_name == "epochs" and low < 1:
            raise ValueError("a trial trains at least 1 epoch")
        if info.field_name == "warmup_ratio" and high >= 1:
            raise ValueError("the warmup share is below 1")
        return value

    @field_validator("batch_size")
    @classmethod
    def _batch_sizes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or min(value) < 1):
            raise ValueError("give one or more batch sizes of at least 1")
        return value


# A Hugging Face Hub repo id: OWNER/NAME, each of letters, digits, '-', '_', '.', up to 96 characters.
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", re.ASCII)


def repo_id_problem(repo_id: str) -> str | None:
    """Why repo_id is not a Hub model repo id (OWNER/NAME), or None when it is one."""
    if not REPO_ID.fullmatch(repo_id):
        return (
            f"{repo_id!r} is not a Hub repo id: give OWNER/NAME (your user or organisation, a slash, "
            "the model's name; letters, digits, '-', '_', '.')"
        )
    if "--" in repo_id or ".." in repo_id or repo_id.endswith((".", "-")):
        return f"{repo_id!r} is not a Hub repo id: '--', '..' and a trailing '.' or '-' are not allowed"
    return None


class HubConfig(_Section):
    """Pushing the finished run to the Hugging Face Hub (the token: HF_TOKEN or `hf auth login`)."""

    push_to_hub: str | None = Field(
        None,
        description="Hub repo id (OWNER/NAME) to push the run to once saved: model, card, metrics; "
        "null: no push. `textfit push RUN_DIR REPO_ID` pushes a saved run.",
    )
    private: bool = Field(True, description="Create the Hub repo private (false: public).")

    @field_validator("push_to_hub")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        problem = None if value is None else repo_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class RunConfig(_Section):
    """Everything one training run needs; saved as run_config.yaml in the run folder."""

    output_dir: Path | None = Field(
        None, description="Run folder; default runs/<training file name>, or runs/<data set>-<config>."
    )
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    hub: HubConfig = Field(default_factory=HubConfig)

    def resolved_output_dir(self) -> Path:
        """The run folder: output_dir, or runs/<stem of the training file>, or runs/<data set>[-<config>]."""
        if self.output_dir is not None:
            return self.output_dir
        data = self.data
        if data.dataset is not None:  # the last part of a hub id or folder: runs/glue-mrpc
            name = Path(data.dataset.rstrip("/\\")).name or "dataset"
            return Path("runs") / (f"{name}-{data.dataset_config}" if data.dataset_config else name)
        stem = data.train_file.stem if data.train_file else "run"
        return Path("runs") / stem

    def with_absolute_paths(self) -> RunConfig:
        """The config with its data files (and a local data set folder) as absolute paths.

        The saved copy then works from anywhere; a hub id stays as it is.
        """
        files: dict[str, Any] = {
            key: Path(value).resolve()
            for key in ("train_file", "validation_file", "test_file")
            if (value := getattr(self.data, key)) is not None
        }
        if self.data.dataset is not None and Path(self.data.dataset).expanduser().is_dir():
            files["dataset"] = str(Path(self.data.dataset).expanduser().resolve())
        return self.model_copy(update={"data": self.data.model_copy(update=files)})
