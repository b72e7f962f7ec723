"""Prediction with ONNX Runtime: export a run's model, quantize it to int8, check it against PyTorch.

`export_onnx(run_dir, check_file)` writes RUN/onnx/model.onnx (fp32) and, where the CPU has int8
dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX), model.int8.onnx (weights quantized to int8,
activations quantized on the fly). It then predicts check_file with PyTorch in fp32 and with each
ONNX model, and writes RUN/onnx/check.json: the share of labels that agree, the largest probability
difference and, where check_file has labels, the accuracy and macro-F1 of each.

A model passes when its labels agree with PyTorch's on at least MIN_AGREEMENT of the texts and,
with labels, its macro-F1 is at most MAX_F1_DROP below PyTorch's. `OnnxClassifier.load(run_dir)`
takes the int8 model if it passed, the fp32 one if only that passed, and refuses otherwise.

Needs the `onnx` extra: pip install "textfit[onnx]".
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config import DataConfig, write_text_atomic
from textfit.data import Examples, LabelSet, find_columns, read_table, table_examples, with_trained_columns
from textfit.errors import DataError, ModelError
from textfit.metrics import classification_report
from textfit.modeling import cpu_has_fast_int8, quiet_transformers
from textfit.predict import Classifier, model_folder

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99  # share of labels equal to PyTorch's
MAX_F1_DROP = 0.005  # macro-F1 below PyTorch's, where the check file has labels
MODELS = {"int8": "model.int8.onnx", "fp32": "model.onnx"}  # in the order OnnxClassifier prefers


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            "ONNX Runtime is not installed", hint='pip install "textfit[onnx]" (onnx and onnxruntime)'
        ) from None
    return onnxruntime


@dataclass
class OnnxCheck:
    """How an exported model compares with PyTorch (fp32) on the check file."""

    model: str  # int8 or fp32
    agreement: float
    max_probability_difference: float
    f1_macro: float | None
    f1_macro_pytorch: float | None
    passed: bool


def _session(path: Path, threads: int | None = None) -> Any:
    onnxruntime = _require_onnxruntime()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxClassifier(Classifier):
    """A Classifier whose forward pass runs in ONNX Runtime: `OnnxClassifier.load(run_dir)`."""

    def __init__(self, session: Any, config: Any, tokenizer: Any, batch_size: int, precision: str) -> None:
        """Wrap an ONNX Runtime session of an exported model, with its config and tokenizer.

        Args:
            session: an onnxruntime.InferenceSession with a `logits` output.
            config: the model's transformers config (labels, the columns it was trained on).
            tokenizer: its tokenizer.
            batch_size: most texts per forward pass.
            precision: int8 or fp32, as reported.
        """
        self.session = session
        self.input_names = [node.name for node in session.get_inputs()]
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.precision = precision
        self._read_config(config)

    @classmethod
    def load(  # type: ignore[override]
        cls, run_dir: str | Path, batch_size: int = 64, threads: int | None = None
    ) -> OnnxClassifier:
        """Load the best exported model of a run that passed its check (int8 before fp32).

        Raises:
            ModelError: no export, no check, or no model within the bounds.
        """
        from transformers import AutoConfig, AutoTokenizer

        run_dir = Path(run_dir)
        folder = model_folder(run_dir)
        check_file = run_dir / "onnx" / "check.json"
        if not check_file.is_file():
            raise ModelError(
                f"{run_dir} has no checked ONNX export ({check_file} is missing)",
                hint=f"textfit export {run_dir} --format onnx --check test.csv",
            )
        checks = json.loads(check_file.read_text(encoding="utf-8"))["checks"]
        passed = [check["model"] for check in checks if check["passed"]]
        if not passed:
            raise ModelError(
                f"no ONNX model of {run_dir} agreed with PyTorch within the bounds ({check_file})",
                hint="predict with PyTorch (the default backend)",
            )
        precision = next(name for name in MODELS if name in passed)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        with quiet_transformers():
            config = AutoConfig.from_pretrained(folder)
        session = _session(run_dir / "onnx" / MODELS[precision], threads)
        logger.info("model %s in ONNX Runtime, %s", run_dir / "onnx" / MODELS[precision], precision)
        return cls(session, config, tokenizer, batch_size, precision)

    def _logits(self, features: list[dict[str, Any]]) -> NDArray[np.float32]:
        batch = self.tokenizer.pad(features, return_tensors="np")
        shape = batch["input_ids"].shape
        feed = {
            name: batch[name].astype(np.int64) if name in batch else np.zeros(shape, dtype=np.int64)
            for name in self.input_names
        }
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)


def _export(folder: Path, path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, attn_implementation="eager"
        ).eval()
    example = tokenizer(["an example", "a second, longer example text"], padding=True, return_tensors="pt")
    # Graph inputs are named in the order of forward's parameters, not of the tokenizer's.
    names = [name for name in inspect.signature(model.forward).parameters if name in example]
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    # The tracer warns about the mask's Python-side checks; the check below catches a wrong graph.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs={name: example[name] for name in names},
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic shapes as named
        )


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's advice goes to the root logger
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def _check_texts(check_file: Path, cfg: DataConfig, classifier: Classifier) -> tuple[Examples, bool]:
    """The texts of check_file, with their labels where it has a label column."""
    table = read_table(check_file, cfg.format, cfg.encoding, cfg.delimiter)
    cfg = with_trained_columns(cfg, table, classifier.columns)
    try:
        columns, labelled = find_columns(table, cfg), True
    except DataError:  # no label column: agreement only
        columns, labelled = find_columns(table, cfg, need_label=False), False
    return table_examples(table, columns, drop_invalid=True, need_labels=labelled), labelled


def default_check_file(run_dir: str | Path) -> Path:
    """The table to check an export on when none is given: the run's test file, else its validation file.

    Raises:
        DataError: the run names neither, or they no longer exist.
    """
    import yaml

    config_file = Path(run_dir) / "run_config.yaml"
    data: dict[str, Any] = {}
    if config_file.is_file():
        data = (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("data") or {}
    for key in ("test_file", "validation_file"):
        if data.get(key) and Path(data[key]).is_file():
            return Path(data[key])
    raise DataError(
        f"no check file given, and {run_dir} names no test or validation file that exists",
        hint="pass --check test.csv: a table of texts (with labels, for the F1 bound too)",
    )


def check_model(
    name: str,
    pytorch: NDArray[np.float32],
    onnx: NDArray[np.float32],
    label_ids: list[int] | None,
    labels: list[str],
) -> OnnxCheck:
    """Compare an ONNX model's probabilities with PyTorch's on the same texts (see the bounds above)."""
    agreement = float((pytorch.argmax(axis=1) == onnx.argmax(axis=1)).mean())
    f1 = f1_pytorch = None
    if label_ids is not None:
        f1 = classification_report(label_ids, onnx, labels)["f1_macro"]
        f1_pytorch = classification_report(label_ids, pytorch, labels)["f1_macro"]
    passed = agreement >= MIN_AGREEMENT and (
        f1 is None or f1_pytorch is None or f1 >= f1_pytorch - MAX_F1_DROP
    )
    return OnnxCheck(name, agreement, float(np.abs(pytorch - onnx).max()), f1, f1_pytorch, passed)


def export_onnx(
    run_dir: str | Path, check_file: str | Path, cfg: DataConfig | None = None, int8: bool | None = None
) -> list[OnnxCheck]:
    """Export a run's model to RUN/onnx (fp32, and int8 where the CPU runs it fast) and check it.

    Args:
        run_dir: a run folder written by `train`.
        check_file: a table of texts (with labels, for the F1 bound) to compare the models on.
        cfg: how to read check_file (columns, format, ...).
        int8: also write the int8 model; by default where the CPU has int8 dot-product instructions.

    Returns:
        One OnnxCheck per exported model; check.json holds the same.

    Raises:
        ModelError: ONNX Runtime missing, or run_dir not a run. DataError: check_file unreadable.
    """
    _require_onnxruntime()
    run_dir, check_file = Path(run_dir), Path(check_file)
    folder = model_folder(run_dir)
    reference = Classifier.load(run_dir, precision="fp32", device="cpu")
    examples, labelled = _check_texts(check_file, cfg or DataConfig(), reference)
    label_ids = LabelSet(tuple(reference.labels)).encode(examples) if labelled else None

    partial = run_dir / "onnx.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    _export(folder, partial / MODELS["fp32"])
    if cpu_has_fast_int8() if int8 is None else int8:
        _quantize(partial / MODELS["fp32"], partial / MODELS["int8"])

    pytorch = reference.predict_proba(examples.texts, examples.text_pairs)
    checks = []
    for name, file in MODELS.items():
        if (partial / file).is_file():
            onnx = OnnxClassifier(
                _session(partial / file), reference.model.config, reference.tokenizer, 64, name
            )
            probabilities = onnx.predict_proba(examples.texts, examples.text_pairs)
            checks.append(check_model(name, pytorch, probabilities, label_ids, reference.labels))
    report = {
        "check_file": str(check_file),
        "texts": len(examples),
        "bounds": {"min_agreement": MIN_AGREEMENT, "max_f1_macro_drop": MAX_F1_DROP},
        "checks": [check.__dict__ for check in checks],
    }
    write_text_atomic(partial / "check.json", json.dumps(report, indent=2) + "\n")
    shutil.rmtree(run_dir / "onnx", ignore_errors=True)
    partial.rename(run_dir / "onnx")
    return checks
