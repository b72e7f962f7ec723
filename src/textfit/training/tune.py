"""Hyperparameter search with Optuna: trials of `train()` over the ranges of cfg.tune, with pruning.

A study lives in RUN_DIR/optuna.db (SQLite), so running the same command again continues it.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textfit.config.loading import save_config, with_settings
from textfit.config.schema import RunConfig
from textfit.errors import ConfigError
from textfit.files import write_text_atomic
from textfit.runs.folder import (
    INPUTS_HINT,
    REPLACE_HINT,
    check_inputs_outside,
    check_written_by_textfit,
    copy_run,
    remove_written_folder,
    run_inputs,
)
from textfit.runs.layout import MARKER, old_dir_of, partial_dir_of, write_marker

logger = logging.getLogger(__name__)

STUDY_NAME = "textfit"
# The settings a study searches, in the order of the trials table.
SEARCHED = ("learning_rate", "epochs", "batch_size", "warmup_ratio", "weight_decay")
TABLE_COLUMNS = ("trial", "state", "value", *SEARCHED, "seconds", "run")


@dataclass
class TuneResult:
    """A finished (or stopped) study: the best trial, its run folder, and every trial."""

    run_dir: Path
    metric: str
    direction: str  # "maximize" or "minimize"
    best_trial: int | None  # None when no trial completed
    best_value: float | None
    best_params: dict[str, Any]
    best_dir: Path | None  # RUN_DIR/best: a copy of the best trial's run folder
    trials: list[dict[str, Any]]  # the rows of trials.csv, in trial order
    trials_file: Path
    new_trials: int  # trials run by this call (the others came from the study's storage)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "textfit tune needs the package optuna, which is not installed",
            hint='pip install "textfit[tune]" (or optuna)',
        ) from None
    return optuna


def direction_of(metric: str) -> str:
    """'minimize' for the loss, 'maximize' for every score."""
    return "minimize" if metric == "loss" else "maximize"


def suggest_settings(trial: Any, cfg: RunConfig) -> dict[str, Any]:
    """The settings of one trial: a value from each range of cfg.tune (a null range is not searched)."""
    space = cfg.tune
    settings: dict[str, Any] = {}
    if space.learning_rate is not None:
        settings["learning_rate"] = trial.suggest_float("learning_rate", *space.learning_rate, log=True)
    if space.epochs is not None:
        settings["epochs"] = trial.suggest_int("epochs", *space.epochs)
    if space.batch_size is not None:
        settings["batch_size"] = trial.suggest_categorical("batch_size", list(space.batch_size))
    if space.warmup_ratio is not None:
        settings["warmup_ratio"] = trial.suggest_float("warmup_ratio", *space.warmup_ratio)
    if space.weight_decay is not None:
        settings["weight_decay"] = trial.suggest_float("weight_decay", *space.weight_decay)
    return settings


def pruning_callback(trial: Any, metric: str) -> Any:
    """A TrainerCallback that reports the validation metric to the trial after each evaluation.

    The step is the evaluation's number (1, 2, ...: the epoch with eval_strategy "epoch"), so trials
    of different batch sizes are compared at the same point. Raises optuna.TrialPruned, out of
    `trainer.train()`, when the trial's pruner says so.
    """
    optuna = _optuna()
    from transformers import TrainerCallback

    class PruningCallback(TrainerCallback):
        def __init__(self) -> None:
            self.evaluations = 0
            self.values: list[float] = []

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
        ) -> None:
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None:
                return
            self.evaluations += 1
            self.values.append(float(value))
            trial.report(float(value), step=self.evaluations)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{metric} {value:.4g} after evaluation {self.evaluations}")

    return PruningCallback()


def _row(trial: Any, run_dir: Path) -> dict[str, Any]:
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    return {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        **{name: trial.params.get(name) for name in SEARCHED},
        "seconds": seconds,
        "run": str(_trial_dir(run_dir, trial.number)),
    }


def _trial_dir(run_dir: Path, number: int) -> Path:
    return run_dir / "trials" / f"{number:03d}"


def trials_table(rows: list[dict[str, Any]]) -> str:
    """The trials as CSV text (TABLE_COLUMNS), empty cells for settings a trial did not search."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return out.getvalue()


def _fail_stale_trials(study: Any, storage: Any) -> int:
    """Mark trials left 'running' by a killed tune as failed, so the study can count and go on."""
    optuna = _optuna()
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return len(stale)


def _copy_best(trial_dir: Path, best_dir: Path) -> None:
    """Replace RUN_DIR/best with a copy of the trial's run folder (the old best is removed after)."""
    partial = partial_dir_of(best_dir)
    copy_run(trial_dir, best_dir, hint=f"move {partial} away and run the same command again")


def tune(
    cfg: RunConfig,
    *,
    overwrite: bool = False,
    progress: bool = False,
    trial_callbacks: list[Any] | None = None,
    inputs: Sequence[str | Path] = (),
) -> TuneResult:
    """Search cfg.tune's ranges with Optuna, training a run per trial into RUN_DIR/trials/NNN.

    The study is stored in RUN_DIR/optuna.db: calling again with the same RUN_DIR continues it until
    it holds cfg.tune.n_trials finished trials (completed or pruned). Each trial is a `train()` with
    the trial's settings over cfg; its validation metric (cfg.train.metric_for_best_model) is the
    trial's value, and each evaluation reports it to the MedianPruner. The best trial's run folder
    is copied to RUN_DIR/best; without cfg.tune.keep_trial_models the trials' models are then
    deleted (their metrics, settings, logs and reports stay). RUN_DIR/trials.csv lists every trial.

    Args:
        cfg: the run configuration; output_dir is the study's folder (default runs/<file>-tune).
        overwrite: start a new study in RUN_DIR, if textfit wrote it and it holds nothing else;
            the old study waits in RUN_DIR.old until the new one ends, and is deleted then. A
            folder that holds an input (data files, the model folder, `inputs`) is never replaced.
        progress: show each trial's training progress bars (on stderr).
        trial_callbacks: extra TrainerCallbacks given to every trial's Trainer.
        inputs: other files the caller read the settings from (the CLI's --config file).

    Returns:
        TuneResult with the best trial and the table of all trials.

    Raises:
        ConfigError: optuna is not installed, RUN_DIR holds something that is not a study (or,
            with overwrite, files textfit did not write, or an input), or hub.push_to_hub is set.
        DataError, ModelError: from the trials' training, as `train()` raises them.
    """
    _optuna()  # before anything else: say so when optuna is missing
    metric = cfg.train.metric_for_best_model
    direction = direction_of(metric)
    run_dir = cfg.output_dir or Path("runs") / f"{cfg.resolved_output_dir().name}-tune"
    replaced = _prepare_folder(cfg, run_dir, overwrite, inputs)
    study, before = _open_study(cfg, run_dir / "optuna.db", direction)
    remaining = _remaining_trials(study, cfg, run_dir / "optuna.db")
    started = time.perf_counter()
    if remaining:
        study.optimize(
            partial(_trial, cfg=cfg, run_dir=run_dir, progress=progress, trial_callbacks=trial_callbacks),
            n_trials=remaining,
            timeout=cfg.tune.timeout,
            callbacks=[partial(_after_trial, cfg=cfg, run_dir=run_dir)],
            catch=(),
        )
    new_trials = len(study.get_trials(deepcopy=False)) - before
    if replaced:
        remove_written_folder(old_dir_of(run_dir), REPLACE_HINT)
    logger.info("%d trial(s) in %.0f s", new_trials, time.perf_counter() - started)
    return _result(study, run_dir, metric, direction, new_trials)


def _result(study: Any, run_dir: Path, metric: str, direction: str, new_trials: int) -> TuneResult:
    """The study's result, its trials written to RUN_DIR/trials.csv."""
    optuna = _optuna()
    rows = [_row(t, run_dir) for t in study.get_trials(deepcopy=False)]
    write_text_atomic(run_dir / "trials.csv", trials_table(rows))
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = study.best_trial if completed else None
    best_dir = run_dir / "best"
    return TuneResult(
        run_dir=run_dir,
        metric=metric,
        direction=direction,
        best_trial=best.number if best else None,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        best_dir=best_dir if best and best_dir.is_dir() else None,
        trials=rows,
        trials_file=run_dir / "trials.csv",
        new_trials=new_trials,
    )


def _prepare_folder(cfg: RunConfig, run_dir: Path, overwrite: bool, inputs: Sequence[str | Path]) -> bool:
    """Check the study's folder, and write its marker and tune_config.yaml.

    Returns:
        Whether an earlier study was moved to RUN_DIR.old (deleted when the new one ends).

    Raises:
        ConfigError: hub.push_to_hub is set, or the folder may not hold the study (see `tune`).
    """
    if cfg.hub.push_to_hub:  # else every trial would push its run
        raise ConfigError(
            "textfit tune does not push to the Hub (hub.push_to_hub is set)",
            hint=f"leave out hub.push_to_hub; after the study: textfit push {run_dir / 'best'} "
            f"{cfg.hub.push_to_hub}",
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"tune folder {run_dir} is a file", hint="pass --output-dir with a folder path")
    database, old = run_dir / "optuna.db", old_dir_of(run_dir)
    check_inputs_outside([run_dir, old], [*run_inputs(cfg), *inputs], INPUTS_HINT)
    hint = REPLACE_HINT
    if overwrite or not database.is_file():  # a study is replaced, or a folder that holds none
        check_written_by_textfit(run_dir, hint)
    check_written_by_textfit(old, hint)
    if run_dir.exists() and any(run_dir.iterdir()) and not database.is_file() and not overwrite:
        raise ConfigError(
            f"{run_dir} already exists and holds no study (no optuna.db)",
            hint="pass --output-dir to write somewhere else, or --overwrite to replace it",
        )
    replaced = overwrite and run_dir.exists() and any(run_dir.iterdir())
    if replaced:  # the old study stays until the new one ends
        remove_written_folder(old, hint)
        run_dir.rename(old)
        logger.info("the earlier study waits in %s until this one ends", old)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / MARKER).is_file():
        write_marker(run_dir, "tune")
    save_config(cfg.model_copy(update={"output_dir": run_dir}), run_dir / "tune_config.yaml")
    return replaced


def _open_study(cfg: RunConfig, database: Path, direction: str) -> tuple[Any, int]:
    """The study stored in `database` (created when missing), and how many trials it held before."""
    optuna = _optuna()
    optuna.logging.disable_default_handler()  # optuna's messages go through logging like any library's
    optuna.logging.enable_propagation()
    storage = optuna.storages.RDBStorage(f"sqlite:///{database.resolve()}")
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2) if cfg.tune.pruning else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=storage, direction=direction, load_if_exists=True
    )
    before = len(study.get_trials(deepcopy=False))
    # Seeded, and on with a new seed when the study continues: the same seed again would sample
    # the first trials' settings once more.
    sampler = optuna.samplers.TPESampler(seed=cfg.train.seed + before)
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        direction=direction,
        load_if_exists=True,
        sampler=sampler,
        pruner=pruner,
    )
    if stale := _fail_stale_trials(study, storage):
        logger.warning("%d trial(s) left unfinished by an earlier tune marked as failed", stale)
    return study, before


def _remaining_trials(study: Any, cfg: RunConfig, database: Path) -> int:
    """The trials still to run for cfg.tune.n_trials finished ones (completed or pruned)."""
    optuna = _optuna()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    if done:
        logger.info("continuing the study in %s: %d of %d trials done", database, done, cfg.tune.n_trials)
    return max(cfg.tune.n_trials - done, 0)


def _trial(
    trial: Any, *, cfg: RunConfig, run_dir: Path, progress: bool, trial_callbacks: list[Any] | None
) -> float:
    """One trial: a `train()` with the trial's settings; returns its validation metric."""
    optuna = _optuna()
    from textfit.training.train import train

    metric = cfg.train.metric_for_best_model
    settings = suggest_settings(trial, cfg)
    trial_dir = _trial_dir(run_dir, trial.number)
    shown = ", ".join(f"{key} {value:.3g}" for key, value in settings.items())
    logger.info("trial %d: %s", trial.number, shown)
    pruner = pruning_callback(trial, metric)
    trial_cfg = with_settings(cfg, {**settings, "output_dir": trial_dir})
    try:
        result = train(
            trial_cfg,
            overwrite=True,
            progress=progress,
            callbacks=[pruner, *(trial_callbacks or [])],
        )
    except optuna.TrialPruned:
        shutil.rmtree(trial_dir.with_name(trial_dir.name + ".partial"), ignore_errors=True)
        logger.info("trial %d pruned: %s %s", trial.number, metric, pruner.values)
        raise
    validation = result.metrics["validation"]
    if metric in validation:
        return float(validation[metric])
    # the loss: the validation report has scores only; the best evaluation's loss
    return min(pruner.values) if pruner.values else float("nan")


def _after_trial(study: Any, trial: Any, *, cfg: RunConfig, run_dir: Path) -> None:
    """After each trial: keep the best run in RUN_DIR/best, drop the others' models, write trials.csv."""
    optuna = _optuna()
    metric = cfg.train.metric_for_best_model
    trial_dir = _trial_dir(run_dir, trial.number)
    if trial.state == optuna.trial.TrialState.COMPLETE:
        if study.best_trial.number == trial.number:
            _copy_best(trial_dir, run_dir / "best")
            logger.info("trial %d: %s %.4f, the best so far", trial.number, metric, trial.value)
        else:
            logger.info("trial %d: %s %.4f", trial.number, metric, trial.value)
        if not cfg.tune.keep_trial_models:
            shutil.rmtree(trial_dir / "model", ignore_errors=True)
    rows = [_row(t, run_dir) for t in study.get_trials(deepcopy=False)]
    write_text_atomic(run_dir / "trials.csv", trials_table(rows))
