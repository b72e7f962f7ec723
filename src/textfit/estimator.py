"""`textfit.TextClassifier`: the scikit-learn estimator API over textfit's training and prediction.

    clf = TextClassifier(model="minilm", epochs=3).fit(texts, labels)
    clf.predict(["free entry now"]); clf.predict_proba(...); clf.score(texts, labels)
    cross_val_score(TextClassifier(), texts, labels, cv=5)

A thin layer: `fit` is `textfit.train` on tables held in memory (no data file is written) into a
run folder, and prediction is `Classifier.load(run).predict_proba`. The run folder is the one
`textfit train` writes, so `save_pretrained` copies it and every command takes it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from textfit.config.schema import DataConfig
from textfit.data.labels import label_name
from textfit.data.memory import is_table, memory_table
from textfit.errors import ConfigError, DataError
from textfit.files import write_json_atomic
from textfit.inference.classifier import Classifier
from textfit.inference.files import table_texts
from textfit.push import PushResult, push_run, train_and_push
from textfit.runs.folder import check_output_dir, copy_run
from textfit.runs.layout import CLASSES_FILE, partial_dir_of

# Texts (and second texts) as given: the Classifier checks them (a single string, None, an empty
# text) and names the mistake.
Texts = tuple[Any, list[Any] | None]


class TextClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A text classifier with scikit-learn's methods: fit, predict, predict_proba, score.

    Args:
        model: the encoder to fine-tune: a preset (minilm, mpnet), a local folder or a Hub id.
        verbose: show training's progress bars.
        **settings: any `textfit.train` setting by name: epochs, learning_rate, batch_size,
            max_length, output_dir (default: a temporary folder, removed with the estimator),
            overwrite (replace output_dir's earlier run), seed, ... (see `textfit.RunConfig`).

    Attributes (after fit or from_pretrained):
        classes_: the labels, in the order of predict_proba's columns (the values fit was given:
            numbers stay numbers).
        run_dir_: the run folder (model, metrics.json, report.html).
        metrics_: the validation (and test) metrics of the run, as in its metrics.json.
        classifier_: the `textfit.Classifier` that predicts.
    """

    def __init__(self, model: str = "minilm", *, verbose: bool = False, **settings: Any) -> None:
        self.model = model
        self.verbose = verbose
        self.settings = settings

    # scikit-learn reads the parameters from __init__'s signature, which **settings hides: every
    # setting given is a parameter, so clone() and GridSearchCV see and change them.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters: model, verbose and each setting given."""
        return {"model": self.model, "verbose": self.verbose, **self.settings}

    def set_params(self, **params: Any) -> TextClassifier:
        """Change parameters (any textfit setting by name); returns the estimator."""
        for name, value in params.items():
            if name in ("model", "verbose"):
                setattr(self, name, value)
            else:
                self.settings[name] = value
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_cleanup", None)  # a pickled copy does not remove the temporary run
        return state

    # ---------------------------------------------------------------- fitting

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        text: str | None = None,
        text_pair: str | None = None,
        label: str | None = None,
        validation: Any = None,
    ) -> TextClassifier:
        """Fine-tune the model on texts and labels, held in memory.

        Args:
            X: texts (a list, array or pandas Series of strings, or of (text, second text) pairs),
                or a table: pandas DataFrame, pyarrow Table, datasets.Dataset, dict of columns.
            y: the labels of X's rows; None when X is a table with a label column.
            text: the text column of a table X (default: found by its name, as `textfit train`
                finds it: text, sentence, ...).
            text_pair: the second text column of a table X of sentence pairs.
            label: the label column of a table X (default: found by its name: label, ...).
            validation: held-out rows to choose the checkpoint on and report: an (X, y) tuple or a
                table; default a stratified share of X (validation_split).

        Raises:
            DataError: rows or labels that cannot be read, naming the table and row.
            ConfigError: a setting that does not exist, or a task other than single-label.
        """
        if self.settings.get("task", "single_label") != "single_label":
            raise ConfigError(
                "TextClassifier is single-label classification",
                hint="for multi-label or regression use textfit.train(tables={'train': df}, task=...)",
            )
        train_columns, values = _table(X, y, "train")
        tables = {"train": train_columns}
        if validation is not None:
            given = (
                validation
                if not isinstance(validation, tuple)
                else _table(validation[0], validation[1], "validation")[0]
            )
            tables["validation"] = given
        columns = {"text_column": text, "text_pair_column": text_pair, "label_column": label}
        if isinstance(train_columns, dict):  # built here from X and y
            columns = {"text_column": "text", "label_column": "label"}
            columns["text_pair_column"] = "text_pair" if "text_pair" in train_columns else None
        settings = {
            **{key: value for key, value in columns.items() if value is not None},
            "task": "single_label",
            **self.settings,
        }
        overwrite = bool(settings.pop("overwrite", False))
        settings["output_dir"] = self._run_folder()
        result = train_and_push(
            tables=tables, overwrite=overwrite, progress=self.verbose, model=self.model, **settings
        )
        if values:
            _write_classes(result.run_dir, values)
        return self._fitted(result.run_dir, Classifier.load(result.run_dir), result.metrics)

    def _run_folder(self) -> Path:
        """Where fit writes the run: output_dir, or a temporary folder removed with the estimator."""
        cleanup = getattr(self, "_cleanup", None)
        if cleanup is not None:
            cleanup()  # a refit: the earlier temporary run goes
        if self.settings.get("output_dir") is not None:
            return Path(self.settings["output_dir"])
        root = Path(tempfile.mkdtemp(prefix="textfit-estimator-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        return root / "run"

    def _fitted(self, run_dir: Path, classifier: Classifier, metrics: dict[str, Any]) -> TextClassifier:
        """Set the fitted attributes from a run and its classifier."""
        if classifier.task.name != "single_label":
            raise ConfigError(
                f"{run_dir} holds a {classifier.task.name} model; TextClassifier is single-label",
                hint="use textfit.Classifier.load(run) for multi-label and regression models",
            )
        self.run_dir_ = Path(run_dir)
        self.classifier_ = classifier
        self.metrics_ = metrics
        self.classes_ = _classes(self.run_dir_, classifier.labels)
        return self

    # ---------------------------------------------------------------- predicting

    def predict_proba(self, X: Any) -> NDArray[np.float32]:
        """Class probabilities of each text (or row of a table), columns in `classes_` order."""
        check_is_fitted(self, "classifier_")
        texts, pairs = self._texts(X)
        return self.classifier_.predict_proba(texts, pairs)

    def predict(self, X: Any) -> NDArray[Any]:
        """The most probable label of each text (or row of a table), as a value of `classes_`."""
        probabilities = self.predict_proba(X)
        return (
            np.asarray(self.classes_)[probabilities.argmax(axis=1)]
            if len(probabilities)
            else self.classes_[:0]
        )

    def _texts(self, X: Any) -> Texts:
        """The texts (and second texts) of X: a sequence of texts or pairs, or a table."""
        if isinstance(X, str):
            return X, None
        if is_table(X):
            return table_texts(memory_table(X, "input"), DataConfig(), self.classifier_.columns)
        return _sequence_texts(X)

    # ---------------------------------------------------------------- saving, loading, sharing

    def save_pretrained(self, path: str | Path, overwrite: bool = False) -> Path:
        """Copy the run folder to `path`: `from_pretrained`, `textfit predict` and `serve` load it.

        The transformers model is `path/model`. An existing folder is replaced only with `overwrite`,
        and only if textfit wrote it.

        Raises:
            ConfigError: path exists (without overwrite) or holds files textfit did not write.
        """
        check_is_fitted(self, "run_dir_")
        target = Path(path)
        if target.resolve() == self.run_dir_.resolve():
            return target
        check_output_dir(target, overwrite)
        copy_run(self.run_dir_, target, hint=f"move {partial_dir_of(target)} away, or save elsewhere")
        return target

    @classmethod
    def from_pretrained(cls, path: str | Path, **load: Any) -> TextClassifier:
        """A fitted TextClassifier of a run folder (or its model folder) that textfit wrote.

        Args:
            path: the folder.
            **load: `textfit.Classifier.load`'s options: device, batch_size, precision, fast_paths.
        """
        classifier = Classifier.load(path, **load)
        metrics_file = Path(path) / "metrics.json"
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
        return cls(model=str(path))._fitted(Path(path), classifier, metrics)

    def push_to_hub(self, repo_id: str, *, private: bool = True, **options: Any) -> PushResult:
        """Upload the run to a Hub model repo (see `textfit.push_run` for the options)."""
        check_is_fitted(self, "run_dir_")
        return push_run(self.run_dir_, repo_id, private=private, **options)


# ---------------------------------------------------------------- inputs


def _sequence_texts(texts: Any) -> Texts:
    """Texts, or (text, second text) pairs, from a list, array or pandas Series."""
    items = texts.tolist() if hasattr(texts, "tolist") else list(texts)
    if items and all(isinstance(item, list | tuple) and len(item) == 2 for item in items):
        return [item[0] for item in items], [item[1] for item in items]
    return items, None


def _table(X: Any, y: Any, role: str) -> tuple[Any, dict[str, Any]]:
    """The table to train on, and the label values by their names (empty when y is None).

    X with y: a dict of columns "text" (and "text_pair") and "label"; a table X without y as given.
    """
    if y is None:
        if not is_table(X):
            raise DataError(
                f"<{role} table>: texts without labels",
                hint="fit(texts, labels), or fit(table, label='COLUMN') with a table holding the labels",
            )
        return X, {}
    if is_table(X):
        raise DataError(
            f"<{role} table>: a table and labels given: which column is the text?",
            hint="fit(df['text'], labels), or fit(df, text='text', label='label') with the labels in df",
        )
    texts, pairs = _sequence_texts(X)
    labels = y.tolist() if hasattr(y, "tolist") else list(y)
    if len(labels) != len(texts):
        raise DataError(
            f"<{role} table>: {len(texts)} texts but {len(labels)} labels",
            hint="give one label per text",
        )
    columns: dict[str, list[Any]] = {"text": texts, "label": [label_name(value) for value in labels]}
    if pairs is not None:
        columns["text_pair"] = pairs
    return columns, _values_by_name(labels, role)


def _values_by_name(labels: Sequence[Any], role: str) -> dict[str, Any]:
    """Each label value by the name textfit reads it as; two values of one name are an error."""
    values: dict[str, Any] = {}
    for value in labels:
        name = label_name(value)
        if name is None:
            continue  # an empty label: the data layer names its row
        plain = value.item() if isinstance(value, np.generic) else value
        if values.setdefault(name, plain) != plain:
            raise DataError(
                f"<{role} table>: labels {values[name]!r} and {plain!r} are both read as {name!r}",
                hint="give each class one value (all strings, or all numbers)",
            )
    return values


def _write_classes(run_dir: Path, values: dict[str, Any]) -> None:
    """Save the label values where they are not their names (numbers), for from_pretrained."""
    if any(value != name for name, value in values.items()):
        write_json_atomic(run_dir / CLASSES_FILE, [[name, value] for name, value in values.items()])


def _classes(run_dir: Path, labels: list[str]) -> NDArray[Any]:
    """The label values of a run in the model's label order: as fit was given them where saved."""
    saved = run_dir / CLASSES_FILE
    values = dict(json.loads(saved.read_text(encoding="utf-8"))) if saved.is_file() else {}
    return np.asarray([values.get(name, name) for name in labels])
