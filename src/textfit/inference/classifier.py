"""Predict labels and probabilities with a saved run in Python: `Classifier.load(run_dir).predict(texts)`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.data.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, task_of_problem_type
from textfit.devices import pick_device
from textfit.errors import DataError, list_problems
from textfit.inference.backends import (
    FAST_PATHS,
    TOLERANCE,
    Backend,
    EagerBackend,
    checked_fast_paths,
    fast_backend,
    half_dtype,
    logits_difference,
    probe_batch,
)
from textfit.inference.batches import aggregate_windows, length_batches, pad_batch
from textfit.modeling import (
    check_remote_code,
    check_tokenizer,
    keep_freed_memory,
    pick_precision,
    quiet_transformers,
)
from textfit.runs.model import model_folder, tokenizer_hint

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (texts done, texts in all)


def check_texts(texts: Sequence[str], method: str = "predict", name: str = "texts") -> list[str]:
    """The texts as a list, each a string with at least one visible character.

    An empty or whitespace-only text has no prediction anywhere in textfit: `Classifier` refuses
    it, `predict_file` keeps its row with empty prediction cells (null in JSON Lines), and
    `textfit serve` answers 422. The model would otherwise make up a label from its special
    tokens alone.

    Args:
        texts: the texts given to `method`.
        method: the public method called, named in the error.
        name: the argument's name, for the error (texts, text_pairs).

    Raises:
        TypeError: texts is a single string (or bytes) rather than a list of texts.
        DataError: naming the position of each text that is not a string, or is empty.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"{method} takes a list of texts, not a single {type(texts).__name__}: "
            f"pass a list of texts, e.g. {method}([text])"
        )
    given: list[Any] = list(texts)
    if all(isinstance(text, str) and text.strip() for text in given):
        return given
    problems = []
    for index, text in enumerate(given):
        if text is None:
            problems.append(f"{name}[{index}] is None")
        elif not isinstance(text, str):
            problems.append(f"{name}[{index}] is {text!r:.40} ({type(text).__name__})")
        elif not text.strip():
            problems.append(f"{name}[{index}] is {'empty' if not text else 'whitespace only'}")
    raise DataError(
        f"{list_problems(problems)}; every text must be a string with at least one visible character",
        hint="fill in or drop these texts (missing values of a table come as None or NaN); "
        "predict_file and `textfit predict` keep such rows, with empty predictions",
    )


@dataclass
class Prediction:
    """The predicted label of one text, its probability, and the top-k labels with theirs.

    Multi-label: `labels` holds every label whose probability reaches its threshold, most probable
    first, and `label` their names joined (empty when none does); `score` is the top probability.
    Regression: `value` is the prediction (also `score`, and `label` as text).
    """

    label: str
    score: float
    top_k: list[tuple[str, float]]
    labels: list[tuple[str, float]] = field(default_factory=list)
    value: float | None = None


class Classifier:
    """A fine-tuned classifier: `Classifier.load(run_dir).predict(["text", ...])`."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64, precision: str = "auto") -> None:
        """Wrap a model and its tokenizer; it predicts through its own forward pass (EagerBackend).

        Args:
            model: a sequence-classification model (on the device to predict on).
            tokenizer: its tokenizer.
            batch_size: most texts per forward pass (fewer when they are long: modeling.batch_tokens;
                twice as many for packed BERT, backends.PACKED_BATCH_SCALE).
            precision: auto (bf16 where the hardware runs it fast, as in training), fp32, bf16 or
                fp16. bf16 runs under autocast; the weights of a model given here stay as they are
                (`load` casts its own once).
        """
        self.model = model.eval()
        self.precision = pick_precision(precision, model.device.type)
        self._attach(EagerBackend(model, half_dtype(self.precision)), model.config, tokenizer, batch_size)

    def _attach(self, backend: Backend, config: Any, tokenizer: Any, batch_size: int) -> None:
        """The forward pass, tokenizer and batch size, and what textfit.train saved in config.json."""
        self.backend = backend
        self.fast_paths: tuple[str, ...] = ()  # those of backends.FAST_PATHS that `backend` takes
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        # The task (SINGLE_LABEL, MULTI_LABEL or REGRESSION), from the problem_type.
        self.task: Task = task_of_problem_type(getattr(config, "problem_type", None))
        # Multi-label: the probability each label needs, tuned on the validation set.
        saved = dict(getattr(config, "textfit_thresholds", None) or {})
        self.thresholds = np.asarray([saved.get(name, 0.5) for name in self.labels], dtype=np.float32)
        self.label_delimiter: str = getattr(config, "textfit_label_delimiter", None) or "|"
        self.columns: dict[str, Any] = dict(getattr(config, "textfit_columns", None) or {})
        # {"mode": "window", "stride": ..., "aggregation": "mean" | "max"}; empty: texts are cut.
        self.long_text: dict[str, Any] = dict(getattr(config, "textfit_long_text", None) or {})

    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        batch_size: int = 64,
        device: str | None = None,
        precision: str = "auto",
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        fast_paths: Collection[str] = FAST_PATHS,
    ) -> Classifier:
        """Load the model of a run folder (or a model folder) for prediction (see `__init__`).

        Weights load from safetensors only unless `allow_pickle`; the folder's own Python code
        (an `auto_map` in its config) runs only with `trust_remote_code`. The model is prepared
        to predict (`_prepare_for_inference`): to train or save it, load it with transformers.

        Args:
            run_dir: a run folder written by `train`, or its model folder.
            batch_size: most texts per forward pass (see `__init__`).
            device: cpu, cuda, mps, xpu, cuda:1, ...; by default a GPU where there is one (CUDA, Apple
                MPS or Intel XPU, as training's train.device auto), else the CPU.
            precision: auto, fp32, bf16 or fp16 (see `__init__`).
            allow_pickle: load pickled weights where the folder has no safetensors.
            trust_remote_code: run the model folder's own code.
            fast_paths: which of backends.FAST_PATHS the model may predict through: "packed"
                (BERT on a CPU), "firsttoken" (the last layer at [CLS] alone), "prepack" (linear
                weights reordered once, on a CPU); none: the model's own forward pass. Those taken
                are checked once against the model's own forward and dropped where they differ.

        Raises:
            ModelError: the folder is not a complete run, or needs a permission not given.
            ConfigError: fast_paths names a path that does not exist.
        """
        chosen = checked_fast_paths(fast_paths)
        folder = model_folder(Path(run_dir), allow_pickle)
        check_remote_code(folder, str(run_dir), trust_remote_code)
        tokenizer, model = _load_pretrained(folder, allow_pickle, trust_remote_code)
        check_tokenizer(tokenizer, model, folder, tokenizer_hint(folder))
        device = device or pick_device()
        if device == "cpu":
            keep_freed_memory()
        classifier = cls(model.to(device), tokenizer, batch_size, precision)
        classifier._prepare_for_inference()
        if chosen and not classifier._take_fast_paths(chosen):
            del classifier, model  # the fast paths changed the model in place: load it again
            model = _load_pretrained(folder, allow_pickle, trust_remote_code)[1]
            classifier = cls(model.to(device), tokenizer, batch_size, precision)
            classifier._prepare_for_inference()
        logger.info(
            "model %s on %s, in %s (--precision %s), fast paths: %s",
            folder,
            device,
            classifier.precision,
            precision,
            ", ".join(classifier.fast_paths) or "none",
        )
        return classifier

    def _prepare_for_inference(self) -> None:
        """Weights in the prediction precision; on a CPU, eager attention.

        Only for a model this Classifier loaded (never one it was given, which may go on training).
        Under autocast, fp32 weights are cast to bf16 again in every batch; cast once, the matrix
        products are the same and layer norms and softmax still run in fp32. SDPA's CPU flash
        kernel costs more than eager attention on short texts (benchmarks/RESULTS.md, section 4).
        """
        dtype = half_dtype(self.precision)
        if dtype is not None:
            self.model.to(dtype)
        if self.model.device.type == "cpu":
            with contextlib.suppress(ValueError, AttributeError, NotImplementedError):
                self.model.set_attn_implementation("eager")  # models that pick their own keep theirs

    def _take_fast_paths(self, fast_paths: tuple[str, ...]) -> bool:
        """Predict through the fastest backend fast_paths allow, if it agrees with the model's own forward.

        The backend's logits of a probe batch must be within TOLERANCE of the model's own forward
        pass. Where they are not, a warning says so and this returns False: the model has been
        changed in place (`backends.fast_backend`) and must be loaded again.
        """
        pairs = bool(self.columns.get("text_pair_column"))
        probe = probe_batch(self.model, self.tokenizer, pairs, self.backend.pad_to_multiple)
        want = self.backend.logits(probe)  # before fast_backend changes the model
        backend, taken = fast_backend(
            self.model, half_dtype(self.precision), self.tokenizer.padding_side, fast_paths
        )
        if not taken:
            return True
        difference = logits_difference(backend.logits(probe), want)
        if difference > TOLERANCE[self.precision]:
            logger.warning(
                "the fast prediction paths (%s) give logits %.3g away from the model's own forward pass "
                "on a probe batch (at most %.3g in %s); predicting with the model's own forward pass",
                ", ".join(taken),
                difference,
                TOLERANCE[self.precision],
                self.precision,
            )
            return False
        self.backend, self.fast_paths = backend, taken
        return True

    def _batch_limits(self) -> tuple[int, int]:
        """The most texts and padded tokens in one forward pass."""
        return self.backend.batch_limits(self.batch_size)

    def predict_proba(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> NDArray[np.float32]:
        """Class probabilities, shape (len(texts), number of labels), columns in `self.labels` order.

        Multi-label: each label's own (sigmoid) probability. Regression: the predicted value, shape
        (len(texts), 1). Texts are batched in order of length (less padding), then put back in input
        order. No texts give no rows.

        Raises:
            TypeError: texts (or text_pairs) is a single string rather than a list of texts.
            DataError: a text is not a string, or is empty or whitespace only (see `check_texts`).
        """
        return self._probabilities(*self._checked(texts, text_pairs, "predict_proba"), progress)

    def _checked(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, method: str
    ) -> tuple[list[str], list[str] | None]:
        """The texts (and pairs) as lists, checked for the public method the caller called."""
        checked = check_texts(texts, method)
        pairs = None if text_pairs is None else check_texts(text_pairs, method, "text_pairs")
        if pairs is not None and len(pairs) != len(checked):
            raise ValueError(f"{len(checked)} texts but {len(pairs)} text pairs")
        if checked and pairs is None and self.columns.get("text_pair_column"):
            raise DataError(
                "this model was trained on sentence pairs; give the second texts too",
                hint="Python: predict(texts, text_pairs=[...]); command line: predict a table with "
                "--text-pair-column",
            )
        return checked, pairs

    def _probabilities(
        self, texts: list[str], text_pairs: list[str] | None, progress: ProgressCallback | None
    ) -> NDArray[np.float32]:
        """predict_proba's probabilities of texts already checked."""
        if not texts:  # the tokenizer fails on an empty batch
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        window = self.long_text.get("mode") == "window"
        encoded = self.tokenizer(
            texts,
            text_pairs,
            truncation="only_first" if window and text_pairs is not None else "longest_first",
            max_length=self.tokenizer.model_max_length,
            **({"stride": self.long_text["stride"], "return_overflowing_tokens": True} if window else {}),
        )
        # Long documents: a text longer than max_length is read in overlapping windows (row of each).
        rows = np.asarray(encoded.pop("overflow_to_sample_mapping", range(len(texts))), dtype=np.int64)
        features = [
            dict(zip(encoded.keys(), values, strict=True)) for values in zip(*encoded.values(), strict=True)
        ]
        batches = length_batches([len(ids) for ids in encoded["input_ids"]], *self._batch_limits())
        logits = np.zeros((len(features), len(self.labels)), dtype=np.float32)
        done = 0
        for batch_index in batches:
            logits[batch_index] = self._logits([features[i] for i in batch_index])
            done += len(batch_index)
            if progress is not None:
                progress(round(done * len(texts) / len(features)), len(texts))
        if window:
            logits = aggregate_windows(logits, rows, len(texts), self.long_text.get("aggregation", "mean"))
        return self.task.scores(logits)

    def _logits(self, features: list[dict[str, Any]]) -> NDArray[np.float32]:
        """The backend's logits for one batch of tokenized texts (padded here)."""
        return self.backend.logits(pad_batch(features, self.tokenizer, self.backend.pad_to_multiple))

    def predict(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        top_k: int = 3,
        progress: ProgressCallback | None = None,
    ) -> list[Prediction]:
        """The predicted label of each text, with its probability and the top_k labels.

        Raises:
            TypeError: texts (or text_pairs) is a single string rather than a list of texts.
            DataError: a text is not a string, or is empty or whitespace only (see `check_texts`).
        """
        probabilities = self._probabilities(*self._checked(texts, text_pairs, "predict"), progress)
        return [self._prediction(row, top_k) for row in probabilities]

    def _prediction(self, row: NDArray[np.float32], top_k: int) -> Prediction:
        return PREDICTIONS[self.task](self, row, top_k)

    def _top(self, row: NDArray[np.float32], top_k: int) -> list[tuple[str, float]]:
        """The top_k labels of a row of scores, with their scores, the highest first."""
        ranked = np.argsort(-row)[: max(1, min(top_k, len(self.labels)))]
        return [(self.labels[i], float(row[i])) for i in ranked]


def _single_label_prediction(classifier: Classifier, row: NDArray[np.float32], top_k: int) -> Prediction:
    top = classifier._top(row, top_k)
    return Prediction(label=top[0][0], score=top[0][1], top_k=top)


def _multi_label_prediction(classifier: Classifier, row: NDArray[np.float32], top_k: int) -> Prediction:
    """Every label at or above its threshold, the most probable first, joined by the label delimiter."""
    top = classifier._top(row, top_k)
    labels, thresholds = classifier.labels, classifier.thresholds
    chosen = [(labels[i], float(row[i])) for i in np.argsort(-row) if row[i] >= thresholds[i]]
    label = classifier.label_delimiter.join(name for name, _ in chosen)
    return Prediction(label=label, score=top[0][1], top_k=top, labels=chosen)


def _regression_prediction(classifier: Classifier, row: NDArray[np.float32], top_k: int) -> Prediction:
    value = float(row[0])
    return Prediction(label=f"{value:.6g}", score=value, top_k=[], value=value)


# A row of each task's scores (Task.scores) as a Prediction: (classifier, row, top_k) -> Prediction.
PREDICTIONS: dict[Task, Callable[[Classifier, NDArray[np.float32], int], Prediction]] = {
    SINGLE_LABEL: _single_label_prediction,
    MULTI_LABEL: _multi_label_prediction,
    REGRESSION: _regression_prediction,
}


def _load_pretrained(folder: Path, allow_pickle: bool, trust_remote_code: bool) -> tuple[Any, Any]:
    """The tokenizer and model of a model folder, as transformers loads them."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=None if allow_pickle else True, trust_remote_code=trust_remote_code
        )
    return tokenizer, model
