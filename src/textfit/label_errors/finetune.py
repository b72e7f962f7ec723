"""Out-of-fold probabilities from fine-tuning: a textfit run per fold, predicting the fold it left out.

Each fold's rows are trained on, held in memory (`train(tables=...)`), with cfg's settings (no
checkpoints, no best-model selection: the held-out fold only scores the end); the fold's model
predicts the held-out rows. The runs go in a temporary folder, removed afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from textfit.config.schema import DataConfig, RunConfig
from textfit.data.examples import Examples
from textfit.inference.classifier import Classifier
from textfit.training.train import train

logger = logging.getLogger(__name__)


def finetune_probabilities(
    cfg: RunConfig,
    examples: Examples,
    names: list[str],
    labels: NDArray[np.int64],
    folds: int,
    seed: int,
    epochs: float | None,
) -> NDArray[np.float64]:
    """Out-of-fold class probabilities, shape (rows, classes), columns in `names` order.

    Args:
        cfg: the settings each fold's run is trained with (model, train.*).
        examples: the rows.
        names: the classes.
        labels: each row's class, an index into names.
        folds: k of the stratified split.
        seed: the seed of the split.
        epochs: each fold's epochs (default cfg.train.epochs).
    """
    from sklearn.model_selection import StratifiedKFold

    probabilities = np.zeros((len(labels), len(names)), dtype=np.float64)
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    column_of = {name: column for column, name in enumerate(names)}
    with tempfile.TemporaryDirectory(prefix="textfit-label-errors-") as tmp:
        for fold, (fitted, held_out) in enumerate(split.split(np.zeros(len(labels)), labels), start=1):
            logger.info("label errors: fold %d of %d (%s rows held out)", fold, folds, f"{len(held_out):,}")
            fold_cfg = _fold_config(cfg, Path(tmp) / f"fold-{fold}", epochs, examples.text_pairs is not None)
            tables = {
                "train": _arrow(examples.subset(fitted)),
                "validation": _arrow(examples.subset(held_out)),
            }
            run_dir = train(fold_cfg, progress=False, tables=tables).run_dir
            classifier = Classifier.load(
                run_dir, device=None if cfg.train.device == "auto" else cfg.train.device
            )
            rows = examples.subset(held_out)
            predicted = classifier.predict_proba(rows.texts, rows.text_pairs)
            columns = [column_of[name] for name in classifier.labels]
            probabilities[np.ix_(held_out, columns)] = predicted
    return probabilities


def _arrow(examples: Examples) -> pa.Table:
    """The examples' texts and labels as a table: text, text_pair where there is one, label."""
    columns = {"text": examples.column("text")}
    if examples.text_pairs is not None:
        columns["text_pair"] = examples.column("text_pair")
    columns["label"] = pa.array(examples.labels, pa.string())
    return pa.table(columns)


def _fold_config(cfg: RunConfig, folder: Path, epochs: float | None, pairs: bool) -> RunConfig:
    """cfg, training on the fold's tables into folder/run: the held-out rows only scored at the end."""
    data = DataConfig(
        text_column="text",
        text_pair_column="text_pair" if pairs else None,
        label_column="label",
        cache=cfg.data.cache,
    )
    training = {
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "early_stopping_patience": None,
        "report_to": [],
        "epochs": cfg.train.epochs if epochs is None else epochs,
    }
    return cfg.model_copy(
        update={
            "output_dir": folder / "run",
            "data": data,
            "model": cfg.model.model_copy(update={"task": "single_label"}),
            "train": cfg.train.model_copy(update=training),
            "hub": cfg.hub.model_copy(update={"push_to_hub": None}),
        }
    )
