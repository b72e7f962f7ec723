"""Fine-tune a model on a labelled table with the Hugging Face Trainer, and save the run.

`train()` reads top to bottom: resolve the run, load the splits, tokenize, run the data checks,
fit (fit.py), evaluate and save (save.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textfit.checks.base import CheckReport
from textfit.checks.labels import few_examples_advice
from textfit.checks.run import check_splits
from textfit.config.loading import save_config, with_settings
from textfit.config.schema import RunConfig
from textfit.data.memory import memory_tables
from textfit.data.tables import Table
from textfit.devices import pick_device
from textfit.errors import TextfitError
from textfit.modeling import load_pretrained, pick_precision
from textfit.runs.folder import check_inputs_outside, check_output_dir, check_written_by_textfit, run_inputs
from textfit.runs.layout import CHECKPOINTS, CONFIG_FILE, old_dir_of, partial_dir_of, write_marker
from textfit.runs.resume import discard_failed, discard_partial, resume_point
from textfit.tokenization import ProgressCallback, token_lengths
from textfit.training.arguments import barrier, is_main_process, training_arguments
from textfit.training.fit import fit
from textfit.training.inputs import Tokenized, TrainingData, load_data, tokenize
from textfit.training.save import evaluate_splits, save_model, save_run
from textfit.training.tracking import check_trackers

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced: where it was saved, and its metrics."""

    run_dir: Path
    metrics: dict[str, Any]  # {"validation": report, "test": report or None, "train": {...}}
    precision: str
    warnings: list[str] = field(default_factory=list)
    report_file: Path | None = None  # RUN_DIR/report.html; None if it could not be written
    main_process: bool = True  # False in the other processes of a distributed run (they write nothing)
    # With hub.push_to_hub (textfit.push.train_and_push): the run on the Hub, a textfit.push.PushResult.
    pushed: Any = None
    push_error: TextfitError | None = None  # the run is saved, but pushing it failed (retry: textfit push)


@dataclass(frozen=True)
class RunPlan:
    """A run resolved from its settings: its config, its folder, and the checkpoint to resume from."""

    cfg: RunConfig
    run_dir: Path
    checkpoint: Path | None = None
    tables: Mapping[str, Table] | None = None  # tables held in memory, read instead of cfg's files


def train(
    cfg: RunConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    resume: str | Path | None = None,
    inputs: Sequence[str | Path] = (),
    tables: Mapping[str, Any] | None = None,
    **settings: Any,
) -> TrainResult:
    """Fine-tune cfg.model.name on cfg.data and save the run to its output folder.

    `train(train_file="data.csv", epochs=2)` is the same as building the config first. The run is
    written to RUN.partial (its textfit-run.json and config first, then checkpoints) and renamed to
    RUN when complete; a run that fails before its first complete checkpoint leaves no RUN.partial.
    hub.push_to_hub is left to `textfit.train` (textfit.push.train_and_push), which pushes the run.

    Args:
        cfg: the run configuration (see `textfit.load_config`); defaults when None.
        overwrite: replace an existing run folder, if textfit wrote it and it holds nothing else
            (its textfit-run.json); the old run is removed once the new one is complete. A folder
            that holds an input of the run (data files, the model folder, `inputs`) is never replaced.
        progress: show the Trainer's progress bars (on stderr).
        callbacks: extra transformers TrainerCallbacks.
        tokenize_progress: called with (texts tokenized, texts in all) while each split is tokenized.
        resume: the folder of an interrupted run (RUN or RUN.partial): continue it from its last
            complete checkpoint with its saved settings; cfg and settings, if given, must agree.
        inputs: other files the caller read the settings from (the CLI's --config file).
        tables: tables held in memory instead of files, by role: {"train": df} and optionally
            "validation" and "test" (pandas DataFrames, pyarrow Tables, datasets.Dataset, dicts of
            columns; see `textfit.data.memory.memory_table`); the settings then name no train_file.
            To resume such a run, pass the same tables again.
        **settings: settings by name (train_file, model, epochs, ...), over those of cfg.

    Returns:
        TrainResult with the run folder and the validation (and test) metrics.

    Raises:
        DataError, ModelError, ConfigError: naming what is wrong and how to fix it.
    """
    run = resolve_run(
        cfg, overwrite=overwrite, resume=resume, inputs=inputs, settings=settings, tables=tables
    )
    return train_run(run, progress=progress, callbacks=callbacks, tokenize_progress=tokenize_progress)


def resolve_run(
    cfg: RunConfig | None,
    *,
    overwrite: bool = False,
    resume: str | Path | None = None,
    inputs: Sequence[str | Path] = (),
    settings: dict[str, Any] | None = None,
    tables: Mapping[str, Any] | None = None,
) -> RunPlan:
    """The run to train: its settings, and a folder it may write (see `train` for the arguments).

    Raises:
        ConfigError: the folder may not be written, the run cannot be resumed, or a tracker is missing.
    """
    settings = settings or {}
    read = None if tables is None else memory_tables(tables)  # a DataError before any folder is made
    checkpoint = None
    if resume is not None:
        cfg, checkpoint = resume_point(Path(resume), cfg, settings)
        run_dir = cfg.resolved_output_dir()
        logger.info("resuming %s from %s", run_dir, checkpoint)
        hint = f"move that folder away, then resume; the interrupted run stays in {partial_dir_of(run_dir)}"
        check_inputs_outside([run_dir, old_dir_of(run_dir)], [*run_inputs(cfg), *inputs], hint)
        for folder in (run_dir, old_dir_of(run_dir)):  # replaced by the resumed run when it finishes
            check_written_by_textfit(folder, hint)
    else:
        if cfg is None or settings:
            cfg = with_settings(cfg, settings)
        cfg = cfg.with_absolute_paths()
        run_dir = cfg.resolved_output_dir()
        check_output_dir(run_dir, overwrite, [*run_inputs(cfg), *inputs])
    logger.debug("settings: %s", json.dumps(cfg.model_dump(mode="json")))
    check_trackers(cfg.train.report_to)
    return RunPlan(cfg, run_dir, checkpoint, read)


def train_run(
    run: RunPlan,
    *,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    load: Callable[[RunConfig], TrainingData] | None = None,
) -> TrainResult:
    """Train a resolved run in RUN.partial, and move it into place (see `train` for the arguments).

    `load` reads the run's data (textfit.training.distill passes one with the teacher's targets).
    """
    device = pick_device(run.cfg.train.device)  # ConfigError where the device asked for is not there
    precision = pick_precision(run.cfg.train.precision, device)
    if run.cfg.train.precision == "auto":
        logger.info("precision: %s (auto: the fastest this hardware runs well)", precision)
    partial_dir = partial_dir_of(run.run_dir)
    main = is_main_process()  # in a distributed run, only the main process writes the run folder
    if main and run.checkpoint is None:
        discard_partial(partial_dir)
        write_marker(partial_dir, "train")  # first: the folder is textfit's (see run_folder)
        save_config(run.cfg, partial_dir / CONFIG_FILE)  # then what --resume reads
    try:
        return _steps(run, precision, main, progress, callbacks, tokenize_progress, load)
    except BaseException:
        if main:  # keep RUN.partial only where --resume can continue it
            discard_failed(partial_dir)
        raise


def _steps(
    run: RunPlan,
    precision: str,
    main: bool,
    progress: bool,
    callbacks: list[Any] | None,
    tokenize_progress: ProgressCallback | None,
    load: Callable[[RunConfig], TrainingData] | None,
) -> TrainResult:
    """train() once its RUN.partial folder exists: read the data, fine-tune, evaluate, save the run."""
    from transformers import set_seed

    cfg, partial_dir = run.cfg, partial_dir_of(run.run_dir)
    set_seed(cfg.train.seed)
    data = load_data(cfg, run.tables) if load is None else load(cfg)
    args = training_arguments(cfg, partial_dir / CHECKPOINTS, precision, progress, data.task)
    barrier(args)  # the main process has written RUN.partial's first files
    logger.info("device: %s (train.device %s)", args.device, cfg.train.device)
    # The main process extracts the model and fills the tokenization cache; the others then read them.
    with args.main_process_first(desc="tokenization"):
        labels = data.labels
        tokenizer, model = load_pretrained(
            cfg.model, labels.id2label, labels.label2id, data.task.problem_type
        )
        tokenized = tokenize(cfg, data, tokenizer, tokenize_progress)
    checks, warnings = preflight_checks(cfg, data, tokenized)
    fitted = fit(cfg, args, model, tokenizer, data, tokenized, run.checkpoint, callbacks, progress, main)
    model_dir = save_model(fitted, data.splits, tokenized.long_texts is not None, partial_dir)
    if not main:  # the main process evaluates over every validation row, and writes the run
        barrier(args)
        written = json.loads((run.run_dir / "metrics.json").read_text(encoding="utf-8"))
        return TrainResult(run.run_dir, written, precision, warnings, main_process=False)
    scored = evaluate_splits(fitted, tokenizer, data, precision, model_dir)
    metrics, report_file = save_run(fitted, data, tokenized, checks, scored, precision, run.run_dir, warnings)
    barrier(args)  # before a push, which may outlast the other processes' wait
    return TrainResult(run.run_dir, metrics, precision, warnings, report_file)


def preflight_checks(
    cfg: RunConfig, data: TrainingData, tokenized: Tokenized
) -> tuple[CheckReport, list[str]]:
    """The checks of `textfit check`, with the token counts of the training rows just tokenized.

    Returns:
        The checks, and their warnings with advice for few examples (each logged).

    Raises:
        DataError: a check failed.
    """
    checks = check_splits(
        data.splits,
        max_length=cfg.model.max_length,
        group_column=cfg.data.group_column,
        lengths=None
        if tokenized.long_texts is not None
        else token_lengths(tokenized.train),  # windows: counted
        lengths_cut=True,
    )
    checks.raise_on_failure()
    warnings = checks.warnings
    advice = few_examples_advice(  # rows per class, or per label of the lists; none for regression
        data.task.occurrences(data.splits.train, data.delimiter),
        cfg.train.epochs,
        cfg.train.batch_size,
        cfg.model.name,
    )
    warnings += [advice] if advice else []
    for warning in warnings:
        logger.warning(warning)
    logger.info("data checks: %s", checks.tally())
    return checks, warnings
