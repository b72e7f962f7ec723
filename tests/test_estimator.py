"""textfit.TextClassifier: scikit-learn's estimator API over textfit's training and prediction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import CLASS_WORDS, TOPIC_WORDS, class_rows, pair_rows
from textfit import Classifier, TextClassifier
from textfit.errors import ConfigError, DataError

TRAIN = class_rows(TOPIC_WORDS, 16)
TEST = class_rows(TOPIC_WORDS, 6, start=16)
X_TRAIN, Y_TRAIN = [row["text"] for row in TRAIN], [row["label"] for row in TRAIN]
X_TEST, Y_TEST = [row["text"] for row in TEST], [row["label"] for row in TEST]


@pytest.fixture(scope="module")
def settings(tiny_settings: dict[str, Any]) -> dict[str, Any]:
    return dict(tiny_settings)


@pytest.fixture(scope="module")
def fitted(settings: dict[str, Any]) -> TextClassifier:
    return TextClassifier(**settings).fit(X_TRAIN, Y_TRAIN)


def test_fit_on_lists_predicts_the_held_out_texts(fitted: TextClassifier) -> None:
    assert list(fitted.classes_) == sorted(TOPIC_WORDS)
    probabilities = fitted.predict_proba(X_TEST)
    assert probabilities.shape == (len(X_TEST), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    predicted = fitted.predict(X_TEST)
    assert list(predicted) == list(fitted.classes_[probabilities.argmax(axis=1)])
    assert fitted.score(X_TEST, Y_TEST) >= 0.8  # chance is 1/3
    assert fitted.metrics_["validation"]["labels"] == sorted(TOPIC_WORDS)
    assert (fitted.run_dir_ / "model" / "model.safetensors").is_file()


def test_predictions_equal_those_of_the_run_loaded_as_a_classifier(fitted: TextClassifier) -> None:
    classifier = Classifier.load(fitted.run_dir_)
    np.testing.assert_allclose(fitted.predict_proba(X_TEST), classifier.predict_proba(X_TEST), atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda rows: pd.DataFrame(rows).rename(columns={"text": "sentence", "label": "topic"}),
        lambda rows: pa.Table.from_pylist(rows).rename_columns(["sentence", "topic"]),
    ],
    ids=["pandas", "pyarrow"],
)
def test_fit_on_a_table_with_its_column_names(make: Any, settings: dict[str, Any]) -> None:
    clf = TextClassifier(**settings).fit(make(TRAIN), text="sentence", label="topic")

    assert list(clf.classes_) == sorted(TOPIC_WORDS)
    assert clf.score(X_TEST, Y_TEST) >= 0.8
    assert list(clf.predict(make(TEST))) == list(clf.predict(X_TEST))  # a table predicts by its column


def test_fit_on_a_datasets_dataset(settings: dict[str, Any]) -> None:
    import datasets

    clf = TextClassifier(**settings).fit(datasets.Dataset.from_list(TRAIN))

    assert clf.score(datasets.Dataset.from_list(TEST), Y_TEST) >= 0.8


def test_number_labels_come_back_as_numbers_also_after_saving(fitted: TextClassifier, tmp_path: Path) -> None:
    codes = {name: i for i, name in enumerate(sorted(TOPIC_WORDS))}
    settings = fitted.get_params()
    clf = TextClassifier(**settings).fit(np.asarray(X_TRAIN), np.asarray([codes[y] for y in Y_TRAIN]))

    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.predict(X_TEST).dtype.kind == "i"
    assert clf.score(X_TEST, [codes[y] for y in Y_TEST]) >= 0.8
    loaded = TextClassifier.from_pretrained(clf.save_pretrained(tmp_path / "saved"))
    assert loaded.classes_.tolist() == [0, 1, 2]
    assert loaded.predict(X_TEST).tolist() == clf.predict(X_TEST).tolist()


def test_save_pretrained_and_from_pretrained_give_the_same_probabilities(
    fitted: TextClassifier, tmp_path: Path
) -> None:
    saved = fitted.save_pretrained(tmp_path / "clf")
    loaded = TextClassifier.from_pretrained(saved)

    np.testing.assert_allclose(loaded.predict_proba(X_TEST), fitted.predict_proba(X_TEST), atol=1e-6)
    assert list(loaded.classes_) == list(fitted.classes_)
    assert loaded.metrics_ == fitted.metrics_
    assert (saved / "model" / "config.json").is_file()  # the transformers folder
    with pytest.raises(ConfigError, match="already exists"):
        fitted.save_pretrained(saved)
    fitted.save_pretrained(saved, overwrite=True)
    assert not list(tmp_path.glob("clf.*")), "no .partial / .old left"


def test_save_pretrained_never_replaces_a_folder_of_other_files(
    fitted: TextClassifier, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(ConfigError):
        fitted.save_pretrained(notes, overwrite=True)
    assert (notes / "todo.txt").read_text(encoding="utf-8") == "mine"


def test_cross_val_score_fits_a_clone_per_fold(settings: dict[str, Any]) -> None:
    rows = class_rows(CLASS_WORDS, 15)
    texts, labels = [row["text"] for row in rows], [row["label"] for row in rows]

    scores = cross_val_score(TextClassifier(**settings), texts, labels, cv=3)

    assert scores.shape == (3,)
    assert scores.mean() >= 0.8  # chance is 1/2


def test_in_a_pipeline_after_a_text_transformer(settings: dict[str, Any]) -> None:
    shout = FunctionTransformer(
        lambda texts: [text.upper() for text in texts]
    )  # the tiny vocabulary is lowercase
    lower = FunctionTransformer(lambda texts: [text.lower() for text in texts])
    pipeline = Pipeline([("shout", shout), ("lower", lower), ("clf", TextClassifier(**settings))])

    pipeline.fit(X_TRAIN, Y_TRAIN)

    assert pipeline.score(X_TEST, Y_TEST) >= 0.8
    assert pipeline.predict_proba(X_TEST).shape == (len(X_TEST), 3)


def test_clone_and_grid_search_see_and_set_every_setting(settings: dict[str, Any]) -> None:
    clf = TextClassifier(**settings)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert copy.get_params()["epochs"] == settings["epochs"]

    search = GridSearchCV(clf, {"learning_rate": [1e-9, settings["learning_rate"]]}, cv=2)
    search.fit(X_TRAIN, Y_TRAIN)
    assert search.best_params_ == {"learning_rate": settings["learning_rate"]}  # 1e-9 learns nothing


def test_sentence_pairs_as_tuples(settings: dict[str, Any]) -> None:
    rows = pair_rows(24)
    pairs = [(row["premise"], row["hypothesis"]) for row in rows]
    clf = TextClassifier(**settings).fit(pairs, [row["label"] for row in rows])

    test = pair_rows(8, start=24)
    assert (
        clf.score([(row["premise"], row["hypothesis"]) for row in test], [row["label"] for row in test])
        >= 0.8
    )
    assert clf.classifier_.columns["text_pair_column"] == "text_pair"


def test_a_refit_removes_the_earlier_temporary_run(settings: dict[str, Any]) -> None:
    clf = TextClassifier(**settings).fit(X_TRAIN, Y_TRAIN)
    first = clf.run_dir_
    clf.fit(X_TRAIN, Y_TRAIN)

    assert not first.exists()
    assert clf.run_dir_.is_dir()
    assert clf.run_dir_ != first


def test_output_dir_keeps_the_run_and_refuses_to_replace_it_without_overwrite(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    clf = TextClassifier(**settings, output_dir=tmp_path / "run").fit(X_TRAIN, Y_TRAIN)
    assert clf.run_dir_ == tmp_path / "run"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))

    with pytest.raises(ConfigError, match="already exists"):
        clf.fit(X_TRAIN, Y_TRAIN)
    clf.set_params(overwrite=True).fit(X_TRAIN, Y_TRAIN)
    assert (tmp_path / "run" / "model").is_dir()


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (X_TRAIN, None, "texts without labels"),
        (X_TRAIN, Y_TRAIN[:-1], "labels"),
        (pd.DataFrame(TRAIN), Y_TRAIN, "which column is the text"),
        (X_TRAIN, [1] * 24 + ["1"] * 24, "both read as '1'"),
    ],
)
def test_inputs_that_do_not_fit_together_are_refused_before_training(X: Any, y: Any, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        TextClassifier(model="no-such-model").fit(X, y)
    assert caught.value.hint


def test_other_tasks_and_unknown_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="single-label"):
        TextClassifier(**settings, task="regression").fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        TextClassifier(**settings, epoch=3).fit(X_TRAIN, Y_TRAIN)


def test_predicting_before_fit_is_scikit_learns_not_fitted_error() -> None:
    with pytest.raises(NotFittedError):
        TextClassifier().predict(["a text"])


def test_push_to_hub_uploads_the_run(fitted: TextClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    import textfit.estimator

    pushed = {}

    def fake_push(run_dir: Path, repo_id: str, **options: Any) -> str:
        pushed.update(run_dir=run_dir, repo_id=repo_id, **options)
        return "pushed"

    monkeypatch.setattr(textfit.estimator, "push_run", fake_push)
    assert fitted.push_to_hub("me/topics", private=False) == "pushed"
    assert pushed == {"run_dir": fitted.run_dir_, "repo_id": "me/topics", "private": False}
