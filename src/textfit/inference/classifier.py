"""Predict labels and probabilities with a saved run: in Python (Classifier) or over a file."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.examples import find_columns, with_trained_columns
from textfit.data.reading import read_table
from textfit.data.rows import text_column
from textfit.data.tables import Table, table_format
from textfit.data.tasks import TASKS_OF_PROBLEM_TYPES
from textfit.errors import DataError, ModelError, list_problems
from textfit.files import write_text_atomic
from textfit.modeling import (
    PRESET_HUB_IDS,
    batch_tokens,
    check_remote_code,
    check_tokenizer,
    has_tokenizer_files,
    keep_freed_memory,
    pad_multiple,
    pick_precision,
    quiet_transformers,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (texts done, texts in all)


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[NDArray[np.intp]]:
    """Row indices in batches of similar length: at most batch_size rows and max_tokens padded tokens.

    A text longer than max_tokens gets a batch of its own.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches: list[NDArray[np.intp]] = []
    start = 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < batch_size
            and (end - start + 1) * lengths[order[end]] <= max_tokens
        ):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


# The keys pad_batch pads itself, and those packed BERT takes.
_PADDED = {"input_ids", "attention_mask", "token_type_ids"}


def pad_batch(
    features: Sequence[dict[str, Any]], tokenizer: Any, multiple: int | None = None
) -> dict[str, NDArray[np.int64]]:
    """One batch of tokenized texts padded into int64 arrays (texts, longest), as `tokenizer.pad` pads it.

    The same arrays as `tokenizer.pad(features, pad_to_multiple_of=multiple, return_tensors="np")`
    (its padding side, pad token and pad token type), built in NumPy, which is several times
    faster (benchmarks/RESULTS.md, section 4). Features with other keys, or a tokenizer without a
    pad token, go through `tokenizer.pad` itself.
    """
    keys = set(features[0])
    if not ({"input_ids", "attention_mask"} <= keys <= _PADDED) or tokenizer.pad_token_id is None:
        padded = tokenizer.pad(list(features), pad_to_multiple_of=multiple, return_tensors="np")
        return {key: np.asarray(value, dtype=np.int64) for key, value in padded.items()}
    length = max(len(feature["input_ids"]) for feature in features)
    if multiple:
        length = -(-length // multiple) * multiple
    fills = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0}
    fills["token_type_ids"] = tokenizer.pad_token_type_id
    left = tokenizer.padding_side == "left"
    batch = {}
    for key in features[0]:
        array = np.full((len(features), length), fills[key], dtype=np.int64)
        for row, feature in zip(array, features, strict=True):
            values = feature[key]
            if left:
                row[length - len(values) :] = values
            else:
                row[: len(values)] = values
        batch[key] = array
    return batch


def model_folder(run_dir: Path, allow_pickle: bool = False) -> Path:
    """The model folder of a run (RUN_DIR/model), or run_dir itself when it is a model folder.

    Checks that the folder is whole: a config with the label names, complete safetensors weights
    (or, with allow_pickle, pickled ones) and tokenizer files.

    Args:
        run_dir: a run folder or a model folder.
        allow_pickle: accept a folder whose weights are pickled (pytorch_model.bin) only.

    Raises:
        ModelError: naming what is missing and how to get a whole run, or the pickled weights
            refused.
    """
    if run_dir.name.endswith(".partial"):
        raise ModelError(
            f"{run_dir} is an unfinished run: training was interrupted, or is still going",
            hint=_unfinished_hint(run_dir, run_dir.with_suffix("")),
        )
    for folder in (run_dir / "model", run_dir):
        if (folder / "config.json").is_file():
            _check_model_folder(folder, allow_pickle)
            return folder
    if not run_dir.exists():
        unfinished = run_dir.with_name(run_dir.name + ".partial")
        replaced = run_dir.with_name(run_dir.name + ".old")
        hint = "pass the --output-dir of a run"
        if unfinished.is_dir():
            hint = f"{unfinished} holds a run that did not finish: " + _unfinished_hint(unfinished, run_dir)
        elif replaced.is_dir():
            hint = f"{replaced} holds the run it was replacing when it stopped: rename it to {run_dir.name}"
        raise ModelError(f"run folder {run_dir} does not exist", hint=hint)
    raise ModelError(
        f"{run_dir} is not a textfit run: it has no model/config.json",
        hint="pass the folder `textfit train` wrote (runs/<name> by default)",
    )


def _unfinished_hint(partial: Path, run_dir: Path) -> str:
    """How to go on from an unfinished run: --resume where it has a complete checkpoint, else train again."""
    from textfit.runs.resume import last_checkpoint

    if last_checkpoint(partial) is not None:
        return f"resume it with `textfit train --resume {run_dir}`, or train again"
    return (
        "it stopped before its first complete checkpoint, so there is nothing to resume: "
        f"train again with --output-dir {run_dir}"
    )


# Packed BERT (textfit.accel.packed) predicts in batches of twice batch_size texts and twice
# modeling.batch_tokens: its linear layers see no padding, so larger batches only make larger
# products, a little faster at the same peak memory (benchmarks/RESULTS.md, section 4).
PACKED_BATCH_SCALE = 2
_DAMAGED_HINT = "the run may have been interrupted while saving, or the folder damaged: train it again"


def _check_model_folder(folder: Path, allow_pickle: bool) -> None:
    """Raise ModelError naming the first part of a model folder that is missing or damaged."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{folder / 'config.json'} cannot be read ({err})", hint=_DAMAGED_HINT) from None
    if not isinstance(config, dict) or not config.get("id2label"):
        raise ModelError(
            f"{folder / 'config.json'} has no id2label: the label names of the model are missing",
            hint=_DAMAGED_HINT,
        )
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickled = sorted(path.name for path in folder.glob("*.bin") if path.name != "training_args.bin")
        if pickled and not allow_pickle:
            raise ModelError(
                f"{folder} has only pickled weights ({', '.join(pickled)}); textfit loads "
                "pickled weights only with --allow-pickle (unpickling can run code)",
                hint="pass --allow-pickle if you trust where the folder came from, "
                "or convert the weights to model.safetensors",
            )
        if not pickled:
            raise ModelError(f"{folder} has no safetensors weights (model.safetensors)", hint=_DAMAGED_HINT)
    for path in weights:
        problem = _safetensors_problem(path)
        if problem:
            raise ModelError(f"{path} is damaged: {problem}", hint=_DAMAGED_HINT)
    if not has_tokenizer_files(folder):
        raise ModelError(
            f"{folder} has no tokenizer files (tokenizer.json, or a slow tokenizer's vocab.txt or "
            "sentencepiece model)",
            hint=tokenizer_hint(folder),
        )


def tokenizer_hint(folder: Path) -> str:
    """How to give a run's model folder its tokenizer back: that of the base model its run_config.yaml names.

    With the run's max_length, which the base model's tokenizer_config.json would otherwise replace.
    """
    import yaml

    base, settings = "BASE_MODEL", ""
    with contextlib.suppress(OSError, yaml.YAMLError, KeyError, TypeError):
        model = yaml.safe_load((folder.parent / "run_config.yaml").read_text(encoding="utf-8"))["model"]
        if isinstance(model["name"], str) and model["name"]:
            base = repr(PRESET_HUB_IDS.get(model["name"], model["name"]))
        if isinstance(model.get("max_length"), int):
            settings = f", model_max_length={model['max_length']}"
    return (
        "save the tokenizer of the model it was trained from into it: "
        f"AutoTokenizer.from_pretrained({base}{settings}).save_pretrained({str(folder)!r}); or train it again"
    )


def _safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file is not whole (its header names more bytes than it has), or None.

    The format: 8 bytes (little-endian header length), a JSON header giving each tensor's byte
    range, then the tensors. Read the header only.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            return f"{size} bytes, shorter than a header"
        header_length = int.from_bytes(start, "little")
        if header_length > size - 8:
            return f"its header needs {header_length} bytes, the file has {size}"
        try:
            header = json.loads(handle.read(header_length))
        except ValueError:
            return "its header is not valid JSON"
    try:
        ends = [int(entry["data_offsets"][1]) for name, entry in header.items() if name != "__metadata__"]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return "its header does not list tensors with their byte ranges"
    expected = 8 + header_length + max(ends, default=0)
    if size < expected:
        return f"truncated: {size} bytes of {expected}"
    return None


def aggregate_windows(
    logits: NDArray[np.float32], rows: NDArray[np.int64], count: int, how: str
) -> NDArray[np.float32]:
    """The logits of each text from those of its windows: their mean or maximum, shape (count, labels).

    Args:
        logits: per window, shape (windows, labels).
        rows: the text of each window, shape (windows,); every text has at least one.
        count: the number of texts.
        how: mean or max.
    """
    if how == "max":
        result = np.full((count, logits.shape[1]), -np.inf, dtype=np.float32)
        np.maximum.at(result, rows, logits)
        return result
    sums = np.zeros((count, logits.shape[1]), dtype=np.float32)
    np.add.at(sums, rows, logits)
    counts = np.bincount(rows, minlength=count).astype(np.float32)
    return (sums / counts[:, None]).astype(np.float32)


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

    # textfit.accel.packed.PackedBert, for a model `load` prepared (never for a subclass such as
    # OnnxClassifier, whose forward pass is its own).
    _packed: Any = None

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64, precision: str = "auto") -> None:
        """Wrap a model and its tokenizer.

        Args:
            model: a sequence-classification model (on the device to predict on).
            tokenizer: its tokenizer.
            batch_size: most texts per forward pass (fewer when they are long: modeling.batch_tokens;
                twice as many for packed BERT, PACKED_BATCH_SCALE).
            precision: auto (bf16 where the hardware runs it fast, as in training), fp32, bf16 or
                fp16. bf16 runs under autocast; the weights of a model given here stay as they are
                (`load` casts its own once).
        """
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.precision = pick_precision(precision, model.device.type)
        self._read_config(model.config)

    def _read_config(self, config: Any) -> None:
        """The labels, task, thresholds and training columns that textfit.train saved in config.json."""
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        # single_label, multi_label or regression, from the problem_type.
        problem_type = getattr(config, "problem_type", None) or "single_label_classification"
        self.task = TASKS_OF_PROBLEM_TYPES.get(problem_type, "single_label")
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
    ) -> Classifier:
        """Load the model of a run folder (or a model folder) for prediction (see `__init__`).

        Weights load from safetensors only unless `allow_pickle`; the folder's own Python code
        (an `auto_map` in its config) runs only with `trust_remote_code`. The model is prepared
        to predict (`_prepare_for_inference`): to train or save it, load it with transformers.

        Raises:
            ModelError: the folder is not a complete run, or needs a permission not given.
        """
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = model_folder(Path(run_dir), allow_pickle)
        check_remote_code(folder, str(run_dir), trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, use_safetensors=None if allow_pickle else True, trust_remote_code=trust_remote_code
            )
        check_tokenizer(tokenizer, model, folder, tokenizer_hint(folder))
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device == "cpu":
            keep_freed_memory()
        classifier = cls(model.to(device), tokenizer, batch_size, precision)
        classifier._prepare_for_inference()
        logger.info("model %s on %s, in %s (--precision %s)", folder, device, classifier.precision, precision)
        return classifier

    def _half_dtype(self) -> Any:
        """The torch dtype of the bf16 / fp16 precision; None for fp32."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def _prepare_for_inference(self) -> None:
        """Weights in the prediction precision; on a CPU, BERT on packed tokens, others eager attention.

        Only for a model this Classifier loaded (never one it was given, which may go on training).
        Under autocast, fp32 weights are cast to bf16 again in every batch; cast once, the matrix
        products are the same and layer norms and softmax still run in fp32. SDPA's CPU flash
        kernel costs more than eager attention on short texts; BERT classifiers (the default
        MiniLM) run through `textfit.accel.packed.PackedBert`, faster again. Elsewhere the last layer of
        BERT- and RoBERTa-like classifiers computes their first token alone (`textfit.accel.firsttoken`):
        the logits read nothing else. On a CPU, every linear layer's weight is then reordered once
        into oneDNN's layout (`textfit.accel.prepack`), so the model predicts only: it can no longer be
        trained, moved or saved. The gains: benchmarks/RESULTS.md, section 4.
        """
        from textfit.accel import firsttoken
        from textfit.accel.packed import PackedBert, packable
        from textfit.accel.prepack import prepack_linears

        dtype = self._half_dtype()
        if dtype is not None:
            self.model.to(dtype)
        if self.model.device.type == "cpu":
            with contextlib.suppress(ValueError, AttributeError, NotImplementedError):
                self.model.set_attn_implementation("eager")  # models that pick their own keep theirs
            if packable(self.model, self.tokenizer.padding_side):
                self._packed = PackedBert(self.model)
        if self._packed is None:
            firsttoken.enable(self.model)  # BERT and RoBERTa-like classifiers: their [CLS] alone
        if self.model.device.type == "cpu":
            prepack_linears(self.model)  # after PackedBert, which stacks query, key and value

    def _batch_limits(self) -> tuple[int, int]:
        """The most texts and padded tokens in one forward pass."""
        size, tokens = self.batch_size, batch_tokens(self._device_type())
        if self._packed is not None:  # no padding in its products: larger batches, larger products
            size, tokens = size * PACKED_BATCH_SCALE, tokens * PACKED_BATCH_SCALE
        return size, tokens

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
        if self.task == "regression":
            return logits
        if self.task == "multi_label":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]

    def _device_type(self) -> str:
        """Where the forward pass runs: "cpu", "cuda", ..."""
        return str(self.model.device.type)

    def _logits(self, features: list[dict[str, Any]]) -> NDArray[np.float32]:
        """The model's logits for one batch of tokenized texts (padded here)."""
        import torch

        device = self.model.device
        padded = pad_batch(features, self.tokenizer, pad_multiple(device.type))
        batch = {key: torch.from_numpy(values) for key, values in padded.items()}
        dtype = self._half_dtype()
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            if self._packed is not None and set(batch) <= _PADDED:
                logits = self._packed(**batch)
            else:
                logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
        return logits.float().cpu().numpy()  # type: ignore[no-any-return]

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
        if self.task == "regression":
            value = float(row[0])
            return Prediction(label=f"{value:.6g}", score=value, top_k=[], value=value)
        ranked = np.argsort(-row)[: max(1, min(top_k, len(self.labels)))]
        top = [(self.labels[i], float(row[i])) for i in ranked]
        if self.task == "multi_label":
            chosen = [
                (self.labels[i], float(row[i])) for i in np.argsort(-row) if row[i] >= self.thresholds[i]
            ]
            label = self.label_delimiter.join(name for name, _ in chosen)
            return Prediction(label=label, score=top[0][1], top_k=top, labels=chosen)
        return Prediction(label=top[0][0], score=top[0][1], top_k=top)


# ---------------------------------------------------------------- files


def _prediction_cells(task: str, prediction: Prediction | None) -> dict[str, Any]:
    """The output columns of one row's prediction; None for a row without a text.

    None is null in JSON Lines and an empty cell in CSV / TSV.
    """
    if task == "regression":
        return {"predicted_value": round(prediction.score, 6) if prediction else None}
    if task == "multi_label":
        return {
            "predicted_labels": prediction.label if prediction else None,
            "label_probabilities": [[name, round(p, 6)] for name, p in prediction.labels]
            if prediction
            else None,
        }
    return {
        "predicted_label": prediction.label if prediction else None,
        "predicted_probability": round(prediction.score, 6) if prediction else None,
        "top_k": [[name, round(p, 6)] for name, p in prediction.top_k] if prediction else None,
    }


def _read_input(path: str, cfg: DataConfig) -> Table:
    if path != "-":
        return read_table(Path(path), cfg.format, cfg.encoding, cfg.delimiter)
    fmt = "csv" if cfg.format == "auto" else cfg.format
    with tempfile.TemporaryDirectory() as tmp:  # read_table reads files; stdin becomes one
        file = Path(tmp) / f"stdin.{fmt}"
        file.write_bytes(sys.stdin.buffer.read())
        table = read_table(file, fmt, cfg.encoding, cfg.delimiter)
    table.path = Path("<stdin>")
    return table


# A cell that is exactly a number: a spreadsheet reads it as one, runs nothing, and keeps its sign.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV / TSV cell that a spreadsheet shows and never runs.

    Text starting with =, +, -, @, a tab or a carriage return (a formula to Excel, LibreOffice and
    Google Sheets) gets a leading apostrophe; text that is exactly a number ("-2", "+1.5e3") is
    left as it is, and so are numbers. Lists (top_k) become JSON.
    """
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return value if _NUMBER.fullmatch(value) else "'" + value
    return value


def _write_output(rows: list[dict[str, Any]], fieldnames: list[str], output: str, fmt: str) -> None:
    buffer = io.StringIO(newline="")
    if fmt == "jsonl":
        for row in rows:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow([csv_cell(name) for name in fieldnames])  # column names come from the input too
        for row in rows:
            writer.writerow([csv_cell(row[name]) for name in fieldnames])
    if output == "-":
        sys.stdout.write(buffer.getvalue())
        return
    write_text_atomic(Path(output), buffer.getvalue())


def predict_file(
    run_dir: Path,
    input_path: str,
    output: str,
    cfg: DataConfig | None = None,
    top_k: int = 3,
    classifier: Classifier | None = None,
    progress: ProgressCallback | None = None,
) -> int:
    """Predict every row of a table and write it with its predictions; returns the row count.

    Every input row is kept, in order, with its columns, then `predicted_label`,
    `predicted_probability` and `top_k` (JSON list of [label, probability]); a multi-label model
    writes `predicted_labels` (joined by its delimiter) and `label_probabilities` (JSON list of the
    labels over their thresholds), a regression model `predicted_value`. A row whose text (or
    text pair) is missing, empty or whitespace only keeps its place with no prediction: empty
    cells in CSV / TSV, null in JSON Lines (see `check_texts`). `-` reads stdin / writes stdout.
    The output format follows the output file's extension (CSV, TSV or JSON Lines); stdout gets
    the input's format.
    """
    cfg = cfg or DataConfig()
    classifier = classifier or Classifier.load(run_dir)
    table = _read_input(input_path, cfg)
    in_format = table_format(table.path, cfg.format) if input_path != "-" else cfg.format
    out_format = "csv" if in_format in ("auto", "parquet") else in_format
    if output != "-":
        out_format = table_format(Path(output))
        if out_format == "parquet":
            raise DataError(f"cannot write predictions as Parquet ({output})", hint="use .csv or .jsonl")
    cfg = with_trained_columns(cfg, table, classifier.columns)
    columns = find_columns(table, cfg, need_label=False)
    texts = [value or "" for value in text_column(table, columns["text"]).to_pylist()]
    pairs = None
    if columns["text_pair"]:
        pairs = [value or "" for value in text_column(table, columns["text_pair"], "text_pair").to_pylist()]
    usable = [i for i, text in enumerate(texts) if text.strip() and (pairs is None or pairs[i].strip())]
    predictions = classifier.predict(
        [texts[i] for i in usable],
        [pairs[i] for i in usable] if pairs is not None else None,
        top_k=top_k,
        progress=progress,
    )
    by_row = dict(zip(usable, predictions, strict=True))
    rows = []
    for index in range(len(table)):
        row = {name: values[index] for name, values in table.columns.items()}
        row.update(_prediction_cells(classifier.task, by_row.get(index)))
        rows.append(row)
    fieldnames = [*table.columns, *_prediction_cells(classifier.task, None)]
    _write_output(rows, fieldnames, output, out_format)
    return len(rows)
