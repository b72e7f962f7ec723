"""The Task objects, and the new task type checklist: every per-task table covers every task.

A new task type is one Task subclass and instance in textfit/data/tasks.py (with its entry in TASKS),
its metrics in config/choices.py TASK_METRICS and the model.task / --task choices, and one entry in
each table of TASK_TABLES below; test_every_task_table_covers_every_task fails until each is there.
"""

from __future__ import annotations

import re
import typing
from typing import Any

import numpy as np
import pytest

from textfit.checks.groups import GROUP_CHECKS
from textfit.checks.run import LABEL_CHECKS
from textfit.cli.options import Task as TaskOption
from textfit.config.choices import TASK_METRICS
from textfit.config.schema import ModelConfig
from textfit.data.tasks import (
    DEFAULT_TASK,
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    TASKS,
    task_named,
    task_of_problem_type,
)
from textfit.errors import ConfigError
from textfit.inference.classifier import PREDICTIONS
from textfit.inference.files import PREDICTION_CELLS
from textfit.inference.onnx import EXPORT_CHECKS
from textfit.metrics import REPORTS
from textfit.report.page import NEEDED_METRICS, PAGES
from textfit.report.predictions import PREDICTION_COLUMNS, WRITERS
from textfit.training.card import CARD_METRICS, INDEX_METRICS

# Each layer's per-task behaviour, keyed by the Task: a new task type needs an entry in each.
TASK_TABLES: dict[str, dict[Any, Any]] = {
    "metrics.REPORTS": REPORTS,
    "checks.run.LABEL_CHECKS": LABEL_CHECKS,
    "checks.groups.GROUP_CHECKS": GROUP_CHECKS,
    "inference.classifier.PREDICTIONS": PREDICTIONS,
    "inference.files.PREDICTION_CELLS": PREDICTION_CELLS,
    "inference.onnx.EXPORT_CHECKS": EXPORT_CHECKS,
    "report.page.PAGES": PAGES,
    "report.page.NEEDED_METRICS": NEEDED_METRICS,
    "report.predictions.WRITERS": WRITERS,
    "report.predictions.PREDICTION_COLUMNS": PREDICTION_COLUMNS,
    "training.card.CARD_METRICS": CARD_METRICS,
    "training.card.INDEX_METRICS": INDEX_METRICS,
}


@pytest.mark.parametrize("table", TASK_TABLES)
def test_every_task_table_covers_every_task(table: str) -> None:
    assert set(TASK_TABLES[table]) == set(TASKS.values()), f"{table} needs an entry per task in TASKS"


def test_every_task_can_be_named_in_the_settings() -> None:
    assert set(TASK_METRICS) == set(TASKS)
    choices = set(typing.get_args(ModelConfig.model_fields["task"].annotation))
    assert choices == {"auto", *TASKS}
    assert set(typing.get_args(TaskOption)) == {"auto", *TASKS}


def test_task_named_knows_every_task_and_refuses_others() -> None:
    for name, task in TASKS.items():
        assert task_named(name) is task
        assert task.name == str(task) == name

    with pytest.raises(ConfigError, match=re.escape("unknown task 'multilabel'")) as err:
        task_named("multilabel")

    assert err.value.hint == "choose one of single_label, multi_label, regression"


def test_the_task_of_a_problem_type() -> None:
    assert task_of_problem_type("multi_label_classification") is MULTI_LABEL
    assert task_of_problem_type("regression") is REGRESSION
    assert task_of_problem_type("single_label_classification") is SINGLE_LABEL
    assert task_of_problem_type(None) is DEFAULT_TASK is SINGLE_LABEL


def test_tasks_are_distinct_dictionary_keys() -> None:
    assert len({SINGLE_LABEL, MULTI_LABEL, REGRESSION}) == 3
    assert [task.title for task in TASKS.values()] == ["single-label", "multi-label", "regression"]
    assert [task.headline_metric for task in TASKS.values()] == ["f1_macro", "f1_micro", "rmse"]


def test_best_model_metric_of_each_task() -> None:
    assert SINGLE_LABEL.best_model_metric("f1_macro") == "f1_macro"
    assert MULTI_LABEL.best_model_metric("f1_macro") == "f1_macro"
    assert REGRESSION.best_model_metric("f1_macro") == "rmse"  # the default, where it is no metric
    assert REGRESSION.best_model_metric("mae") == "mae"

    with pytest.raises(ConfigError, match=re.escape("'rmse' is not a metric of a multi-label task")):
        MULTI_LABEL.best_model_metric("rmse")


def test_scores_of_each_task() -> None:
    logits = np.asarray([[0.0, np.log(3.0)]], dtype=np.float32)

    np.testing.assert_allclose(SINGLE_LABEL.scores(logits), [[0.25, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(MULTI_LABEL.scores(logits), [[0.5, 0.75]], rtol=1e-6)
    assert REGRESSION.scores(logits) is logits
    assert MULTI_LABEL.scores(logits).dtype == np.float32


def test_label_keys_compare_cells_by_meaning() -> None:
    assert SINGLE_LABEL.label_key(None)("a|b") == "a|b"
    assert MULTI_LABEL.label_key("|")("b|a|b") == MULTI_LABEL.label_key("|")('["a", "b"]')
    assert REGRESSION.label_key(None)("2.50") == REGRESSION.label_key(None)("2.5")
    assert REGRESSION.label_key(None)("high") == "high"
