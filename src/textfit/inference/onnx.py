"""Prediction with ONNX Runtime: export a run's model, quantize it to int8, check it against PyTorch.

`export_onnx(run_dir, check_file)` writes an fp32 model to RUN/onnx and, where the CPU has int8
dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX), an int8 one (weights quantized to int8,
activations quantized on the fly). It then predicts check_file with PyTorch in fp32 and with each
ONNX model, and writes RUN/onnx/check.json: how often the two agree, their largest difference and,
where check_file has labels, the score of each (macro-F1, micro-F1 or RMSE, by task).

A model passes when it agrees with PyTorch on at least MIN_AGREEMENT of the texts (single-label:
the label; multi-label: each (text, label) decision at the label's threshold; regression: a value
within VALUE_TOLERANCE of the spread of PyTorch's values) and, with labels, its macro-F1 (micro-F1)
is at most MAX_F1_DROP below PyTorch's, or (regression) its RMSE at most MAX_RMSE_INCREASE of the
targets' standard deviation above it. `OnnxClassifier.load(run_dir)` takes the int8 model if it
passed, the fp32 one if only that passed, and refuses otherwise: model.onnx (see onnx_folder.py).

Needs the `onnx` extra: pip install "textfit[onnx]".
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from textfit.config.schema import DataConfig
from textfit.data.examples import Examples, find_columns, with_trained_columns
from textfit.data.labels import LabelSet
from textfit.data.reading import read_table
from textfit.data.rows import table_examples
from textfit.data.tasks import DEFAULT_TASK, MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task
from textfit.errors import ConfigError, DataError, ModelError, list_problems
from textfit.files import write_json_atomic
from textfit.inference.backends import OnnxBackend
from textfit.inference.classifier import Classifier
from textfit.inference.onnx_folder import EXPORT_FILES, MODELS, arrange_models, chosen_model, copy_model_files
from textfit.metrics import task_report
from textfit.modeling import check_tokenizer, cpu_has_fast_int8, quiet_transformers
from textfit.runs.folder import check_inputs_outside, foreign_entries
from textfit.runs.model import model_folder, tokenizer_hint

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99  # share of labels (multi-label: of decisions; regression: of values) equal to PyTorch's
MAX_F1_DROP = 0.005  # macro-F1 (multi-label: micro-F1) below PyTorch's, where the check file has labels
# Regression: a value agrees within this share of the standard deviation of PyTorch's values (int8
# weights move a value by about 1% of it; a broken graph by far more).
VALUE_TOLERANCE = 0.05
# Regression: RMSE above PyTorch's, as a share of the targets' standard deviation (the RMSE of always
# predicting the mean): 1% of it is far below the gap between a useful model and a useless one.
MAX_RMSE_INCREASE = 0.01


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
    """How an exported model compares with PyTorch (fp32) on the check file.

    Attributes:
        model: int8 or fp32.
        task: the run's task.
        agreement: the share of labels (multi-label: of (text, label) decisions; regression: of
            values within VALUE_TOLERANCE) equal to PyTorch's.
        max_difference: the largest difference of a probability (regression: of a value).
        metric: the task's headline metric (f1_macro, f1_micro or rmse); score and score_pytorch:
            its value for each, None where the check file has no labels.
        passed: within the bounds (module docstring).
    """

    model: str
    task: Task
    agreement: float
    max_difference: float
    metric: str
    score: float | None
    score_pytorch: float | None
    passed: bool


def _session(path: Path, threads: int | None = None) -> Any:
    onnxruntime = _require_onnxruntime()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxClassifier(Classifier):
    """A Classifier whose forward pass runs in ONNX Runtime (OnnxBackend): `OnnxClassifier.load(run_dir)`."""

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
        self.precision = precision
        self._attach(OnnxBackend(session), config, tokenizer, batch_size)

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
        precision = chosen_model(check["model"] for check in checks if check["passed"])
        if precision is None:
            raise ModelError(
                f"no ONNX model of {run_dir} agreed with PyTorch within the bounds ({check_file})",
                hint="predict with PyTorch (the default backend)",
            )
        check = next(check for check in checks if check["model"] == precision)
        path = run_dir / "onnx" / check.get("file", MODELS[precision])  # no file: an older export
        tokenizer = AutoTokenizer.from_pretrained(folder)
        with quiet_transformers():
            config = AutoConfig.from_pretrained(folder)
        check_tokenizer(tokenizer, config, folder, tokenizer_hint(folder))
        session = _session(path, threads)
        logger.info("model %s in ONNX Runtime, %s", path, precision)
        return cls(session, config, tokenizer, batch_size, precision)


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
    # The tracer warns about the mask's Python-side checks, the exporter about its opset choices; the
    # check below catches a wrong graph. Deprecations are left to the caller's filters.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", category=UserWarning)
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

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic's advice goes to the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)  # the caller's logging as it was


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


_Scores = NDArray[np.float32]  # (texts, labels)


def _labels_agree(pytorch: _Scores, onnx: _Scores, cut: _Scores) -> float:
    return float((pytorch.argmax(axis=1) == onnx.argmax(axis=1)).mean())


def _decisions_agree(pytorch: _Scores, onnx: _Scores, cut: _Scores) -> float:
    return float(((pytorch >= cut) == (onnx >= cut)).mean())


def _values_agree(pytorch: _Scores, onnx: _Scores, cut: _Scores) -> float:
    spread = float(pytorch[:, 0].std()) if len(pytorch) else 0.0
    scale = spread if spread > 0 else max(1.0, float(np.abs(pytorch).max(initial=0.0)))
    return float((np.abs(pytorch[:, 0] - onnx[:, 0]) <= VALUE_TOLERANCE * scale).mean())


def _f1_within(score: float, score_pytorch: float, truth: Any) -> bool:
    return score >= score_pytorch - MAX_F1_DROP


def _rmse_within(score: float, score_pytorch: float, truth: Any) -> bool:
    return score <= score_pytorch + MAX_RMSE_INCREASE * float(np.std(truth))


@dataclass(frozen=True)
class ExportCheck:
    """How an export of one task's model is checked against PyTorch (the bounds: module docstring)."""

    score_name: str  # the task's headline metric, as the table names it
    agreeing: str  # what agrees, as the table's header names it
    largest: str  # the largest difference, as the table's header names it
    bounds_text: str  # the bounds in words (check_bounds)
    bounds: dict[str, float]  # the bounds besides min_agreement, as check.json records them
    agreement: Callable[[_Scores, _Scores, _Scores], float]  # (PyTorch's, the export's, thresholds)
    within: Callable[[float, float, Any], bool]  # (score, PyTorch's score, truth): the score is close enough


def _f1_check(name: str, agreeing: str, in_words: str, metric: str, agreement: Any) -> ExportCheck:
    """The check of a classification export: agreement, and `metric` at most MAX_F1_DROP lower."""
    bounds = f"{in_words} on >= {MIN_AGREEMENT:.0%}, {name} at most {MAX_F1_DROP:.3f} lower"
    drop = {f"max_{metric}_drop": MAX_F1_DROP}
    return ExportCheck(name, agreeing, "largest probability difference", bounds, drop, agreement, _f1_within)


# The export check of each task.
EXPORT_CHECKS: dict[Task, ExportCheck] = {
    SINGLE_LABEL: _f1_check("macro-F1", "labels agree", "labels agree", "f1_macro", _labels_agree),
    MULTI_LABEL: _f1_check(
        "micro-F1", "decisions agree", "label decisions agree", "f1_micro", _decisions_agree
    ),
    REGRESSION: ExportCheck(
        "RMSE",
        "values agree",
        "largest value difference",
        f"values within {VALUE_TOLERANCE:.0%} of the standard deviation of PyTorch's on "
        f">= {MIN_AGREEMENT:.0%} of the texts, RMSE at most {MAX_RMSE_INCREASE:.0%} of the "
        "targets' standard deviation higher",
        {"value_tolerance": VALUE_TOLERANCE, "max_rmse_increase": MAX_RMSE_INCREASE},
        _values_agree,
        _rmse_within,
    ),
}


def check_model(
    name: str,
    pytorch: NDArray[np.float32],
    onnx: NDArray[np.float32],
    truth: Any,
    labels: list[str],
    task: Task = SINGLE_LABEL,
    thresholds: NDArray[np.float32] | None = None,
) -> OnnxCheck:
    """Compare an ONNX model's outputs with PyTorch's on the same texts (see the bounds above).

    Args:
        name: int8 or fp32.
        pytorch: PyTorch's `predict_proba`, shape (texts, labels).
        onnx: the ONNX model's, the same shape.
        truth: the true label ids (single-label), 1 / 0 rows (multi-label) or values
            (regression); None without labels.
        labels: the label names.
        task: the run's task.
        thresholds: each label's threshold (multi-label; default 0.5).
    """
    rules, metric = EXPORT_CHECKS[task], task.headline_metric
    max_difference = float(np.abs(pytorch - onnx).max(initial=0.0))
    cut = thresholds if thresholds is not None else np.full(len(labels), 0.5, dtype=np.float32)
    agreement = rules.agreement(pytorch, onnx, cut)
    score = score_pytorch = None
    if truth is not None:
        score = task_report(task, truth, onnx, labels, cut.tolist())[metric]
        score_pytorch = task_report(task, truth, pytorch, labels, cut.tolist())[metric]
    within = score is None or score_pytorch is None or rules.within(score, score_pytorch, truth)
    passed = agreement >= MIN_AGREEMENT and within
    return OnnxCheck(name, task, agreement, max_difference, metric, score, score_pytorch, passed)


def check_bounds(task: Task) -> str:
    """The pass bounds of a task's check, in words."""
    return EXPORT_CHECKS[task].bounds_text


def format_check_table(checks: list[OnnxCheck]) -> list[str]:
    """The checks as a Markdown table: agreement, largest difference, the score of each, the change."""
    rules = EXPORT_CHECKS[checks[0].task if checks else DEFAULT_TASK]
    score = rules.score_name
    lines = [
        f"| model | {rules.agreeing} | {rules.largest} | {score} | PyTorch {score} | change | passed |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        shown = "-" if c.score is None else f"{c.score:.4f}"
        shown_pytorch = "-" if c.score_pytorch is None else f"{c.score_pytorch:.4f}"
        change = "-"
        if c.score is not None and c.score_pytorch is not None:  # + 0.0: a change rounding to 0 shows +
            change = f"{round(c.score - c.score_pytorch, 4) + 0.0:+.4f}"
        lines.append(
            f"| {c.model} | {c.agreement:.2%} | {c.max_difference:.3g} | {shown} | {shown_pytorch} | "
            f"{change} | {'yes' if c.passed else 'no'} |"
        )
    return lines


def _check_export_folders(onnx_dir: Path, partial: Path, check_file: Path) -> None:
    """Refuse to replace RUN/onnx (or onnx.partial) where it holds the check file or files of another kind.

    Raises:
        ConfigError: naming the folder and what in it textfit did not write.
    """
    check_inputs_outside(
        [onnx_dir, partial], [check_file], hint=f"move {check_file} out of the run's {onnx_dir.name} folder"
    )
    for folder in (onnx_dir, partial):
        if folder.is_dir() and (foreign := foreign_entries(folder, EXPORT_FILES)):
            raise ConfigError(
                f"{folder} cannot be replaced: it holds files textfit did not write: "
                + list_problems([repr(name) for name in foreign]),
                hint=f"move those files out of {folder}, then export again",
            )


def _check_exports(partial: Path, reference: Classifier, examples: Examples, truth: Any) -> list[OnnxCheck]:
    """Each model exported into partial compared with the reference (PyTorch, fp32) on the examples."""
    pytorch = reference.predict_proba(examples.texts, examples.text_pairs)
    checks = []
    for name, file in MODELS.items():
        if (partial / file).is_file():
            onnx = OnnxClassifier(
                _session(partial / file), reference.model.config, reference.tokenizer, 64, name
            )
            probabilities = onnx.predict_proba(examples.texts, examples.text_pairs)
            checks.append(
                check_model(
                    name,
                    pytorch,
                    probabilities,
                    truth,
                    reference.labels,
                    reference.task,
                    reference.thresholds,
                )
            )
    return checks


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
        ConfigError: RUN/onnx holds check_file, or files textfit did not write (it is left alone).
    """
    _require_onnxruntime()
    run_dir, check_file = Path(run_dir), Path(check_file)
    folder = model_folder(run_dir)
    _check_export_folders(run_dir / "onnx", run_dir / "onnx.partial", check_file)
    reference = Classifier.load(run_dir, precision="fp32", device="cpu")
    examples, labelled = _check_texts(check_file, cfg or DataConfig(), reference)
    task = reference.task
    labels = LabelSet(tuple(reference.labels))
    truth = task.targets(examples, labels, reference.label_delimiter) if labelled else None

    partial = run_dir / "onnx.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    _export(folder, partial / MODELS["fp32"])
    if cpu_has_fast_int8() if int8 is None else int8:
        _quantize(partial / MODELS["fp32"], partial / MODELS["int8"])

    checks = _check_exports(partial, reference, examples, truth)
    files = arrange_models(partial, [check.model for check in checks if check.passed])
    copy_model_files(folder, partial)
    report = {
        "check_file": str(check_file),
        "texts": len(examples),
        "task": task.name,
        "bounds": {"min_agreement": MIN_AGREEMENT, **EXPORT_CHECKS[task].bounds},
        "checks": [{**c.__dict__, "task": c.task.name, "file": files[c.model]} for c in checks],
    }
    write_json_atomic(partial / "check.json", report)
    shutil.rmtree(run_dir / "onnx", ignore_errors=True)
    partial.rename(run_dir / "onnx")
    return checks
