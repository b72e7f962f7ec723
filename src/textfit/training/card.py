"""The model card, the one writer of it: the model folder's README.md, and the Hub's version of it.

Both carry the same Hub metadata in their YAML front matter (`card_metadata`: licence, base model,
data set, a model-index of the metrics, pipeline tag). `textfit train` writes README.md beside the
weights; `textfit push` uploads its body under that metadata, with local paths reduced to file names.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from textfit.config.schema import RunConfig
from textfit.data.labels import LabelSet
from textfit.data.splits import Splits
from textfit.data.tasks import DEFAULT_TASK, MULTI_LABEL, REGRESSION, SINGLE_LABEL, TASKS, Task, task_named
from textfit.modeling import PRESET_HUB_IDS, PRESET_LICENSES

# The metrics in the model card's table, per task.
CARD_METRICS: dict[Task, dict[str, str]] = {
    SINGLE_LABEL: {"accuracy": "accuracy", "f1_macro": "macro F1", "f1_weighted": "weighted F1"},
    MULTI_LABEL: {
        "f1_micro": "micro F1",
        "f1_macro": "macro F1",
        "subset_accuracy": "subset accuracy",
        "hamming_loss": "Hamming loss",
    },
    REGRESSION: {"rmse": "RMSE", "mae": "MAE", "pearson": "Pearson", "spearman": "Spearman"},
}
# Metrics of the Hub card's model-index per task: (key in metrics.json, Hub metric type, name, args).
INDEX_METRICS: dict[Task, list[tuple[str, str, str, dict[str, str] | None]]] = {
    SINGLE_LABEL: [
        ("accuracy", "accuracy", "Accuracy", None),
        ("f1_macro", "f1", "Macro F1", {"average": "macro"}),
        ("f1_weighted", "f1", "Weighted F1", {"average": "weighted"}),
        ("precision_macro", "precision", "Macro precision", {"average": "macro"}),
        ("recall_macro", "recall", "Macro recall", {"average": "macro"}),
    ],
    MULTI_LABEL: [
        ("f1_micro", "f1", "Micro F1", {"average": "micro"}),
        ("f1_macro", "f1", "Macro F1", {"average": "macro"}),
        ("subset_accuracy", "accuracy", "Subset accuracy", None),
        ("hamming_loss", "hamming_loss", "Hamming loss", None),
    ],
    REGRESSION: [
        ("rmse", "rmse", "RMSE", None),
        ("mae", "mae", "MAE", None),
        ("pearson", "pearsonr", "Pearson r", None),
        ("spearman", "spearmanr", "Spearman rho", None),
    ],
}
# Where the card's usage example names the model; the Hub card names the repo instead.
MODEL_PLACEHOLDER = 'model="path/to/this/folder"'


def model_card(cfg: RunConfig, splits: Splits, labels: LabelSet, metrics: dict[str, Any]) -> str:
    """README.md of the model folder: data, settings and metrics."""
    config = cfg.model_dump(mode="json")
    model_name = Path(str(config.get("output_dir") or "")).name or "textfit-model"
    lines = [
        f"---\n{card_metadata(config, metrics, model_name)}\n---",
        "",
        f"# Text classifier fine-tuned from `{cfg.model.name}` with textfit",
        "",
        "## Data",
        *_data_lines(cfg, splits, labels),
        "",
        *_distillation_lines(metrics.get("distillation")),
        "## Settings",
        f"epochs {cfg.train.epochs:g}, learning rate {cfg.train.learning_rate:g}, batch size "
        f"{cfg.train.batch_size}, max length {cfg.model.max_length}, precision "
        f"{metrics['train']['precision']}, seed {cfg.train.seed}. All settings: `run_config.yaml`.",
        "",
        "## Metrics",
        "",
        *_metrics_table(metrics),
        "",
        "## Use",
        "```python",
        "from transformers import pipeline",
        f'classify = pipeline("text-classification", {MODEL_PLACEHOLDER})',
        'classify("your text here", truncation=True)',
        "```",
        "or `textfit predict RUN_DIR input.csv -o predictions.csv`.",
        "",
    ]
    return "\n".join(lines)


def _distillation_lines(distillation: dict[str, Any] | None) -> list[str]:
    """The card's distillation section (`textfit distill`): the teacher, how, and its scores; none else."""
    if not distillation:
        return []
    teacher = distillation["teacher"]
    scores = [
        f"{split} macro F1 {report['f1_macro']:.4f}, accuracy {report['accuracy']:.4f}"
        for split, report in (("validation", teacher.get("validation")), ("test", teacher.get("test")))
        if report
    ]
    return [
        "## Distillation",
        f"Distilled from the run `{teacher['run']}` (model `{teacher['model']}`): trained on the "
        f"teacher's probabilities at temperature {distillation['temperature']:g}, hard labels weighing "
        f"{distillation['alpha']:g}; {distillation['labelled_rows']} labelled and "
        f"{distillation['unlabelled_rows']} unlabelled training rows.",
        *([f"The teacher on the same rows: {'; '.join(scores)}."] if scores else []),
        "",
    ]


def _data_lines(cfg: RunConfig, splits: Splits, labels: LabelSet) -> list[str]:
    """The card's data section: the data set or files, the rows of each split, columns and labels."""
    data, kind = cfg.data, "file" if cfg.data.dataset is None else "split"
    lines = []
    if data.dataset is not None:
        config = f" (config `{data.dataset_config}`)" if data.dataset_config else ""
        lines.append(f"- data set: `{data.dataset}`{config}")
    held_out = splits.validation.data is splits.train.data
    lines += [
        f"- training {kind}: `{splits.train.source}` ({len(splits.train)} rows used"
        + (f", {splits.train.dropped} dropped" if splits.train.dropped else "")
        + ")",
        f"- validation: {len(splits.validation)} rows"
        + (
            f" (stratified {data.validation_split:g} of the training {kind}, seed {cfg.train.seed})"
            if held_out
            else f" from `{splits.validation.source}`"
        ),
    ]
    if splits.test is not None:
        lines.append(f"- test {kind}: `{splits.test.source}` ({len(splits.test)} rows)")
    return [
        *lines,
        f"- columns: text `{splits.columns['text']}`"
        + (f", text pair `{splits.columns['text_pair']}`" if splits.columns["text_pair"] else "")
        + f", label `{splits.columns['label']}`",
        f"- labels ({len(labels)}): " + ", ".join(f"`{name}`" for name in labels.names),
    ]


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    """The card's table of the task's metrics on validation (and test), in Markdown."""
    shown_metrics = CARD_METRICS[task_named(metrics["task"])]
    lines = [
        f"| split | {' | '.join(shown_metrics.values())} | samples |",
        "|---|" + "---:|" * (len(shown_metrics) + 1),
    ]
    for split in ("validation", "test"):
        report = metrics.get(split)
        if report:
            shown = " | ".join(f"{report[key]:.4f}" for key in shown_metrics)
            lines.append(f"| {split} | {shown} | {report['samples']} |")
    return lines


def local_paths(value: Any) -> set[str]:
    """The absolute paths among the strings of a nested config (data files, a local model, ...)."""
    if isinstance(value, dict):
        return {path for item in value.values() for path in local_paths(item)}
    if isinstance(value, list):
        return {path for item in value for path in local_paths(item)}
    if isinstance(value, str) and len(value) > 1 and Path(value).is_absolute() and Path(value).name:
        return {value}
    return set()


def base_model(name: str) -> str | None:
    """The Hub id of the model a run started from: a preset's, or a hub id; None for a local folder."""
    if name in PRESET_HUB_IDS:
        return PRESET_HUB_IDS[name]
    if name.startswith((".", "/", "~")) or "\\" in name or Path(name).exists():
        return None
    return name if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name, re.ASCII) else None


def _card_body(model_dir: Path, repo_id: str, paths: set[str]) -> str:
    """The text of the run's model card (README.md) below its front matter, for the Hub."""
    readme = model_dir / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        text = text[end + 5 :] if end >= 0 else text
    if not text.strip():
        text = "\n# Text classifier trained with textfit\n\nMetrics: `metrics.json`; "
        text += "settings: `run_config.yaml`.\n"
    for path in sorted(paths, key=len, reverse=True):  # a file inside a folder named before it
        text = text.replace(path, Path(path).name)
    return text.replace(MODEL_PLACEHOLDER, f'model="{repo_id}"')


def base_license(name: str) -> str | None:
    """The licence of the model a run started from: a preset's, or a local folder's card's; else None."""
    if name in PRESET_LICENSES:
        return PRESET_LICENSES[name]
    readme = Path(name).expanduser() / "README.md"
    if not name or not readme.is_file():
        return None
    import yaml

    text = readme.read_text(encoding="utf-8", errors="replace")
    end = text.find("\n---\n", 4) if text.startswith("---\n") else -1
    try:
        data = yaml.safe_load(text[4:end]) if end >= 0 else None
    except yaml.YAMLError:
        return None
    value = data.get("license") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def card_metadata(config: dict[str, Any], metrics: dict[str, Any], model_name: str) -> str:
    """The model card's YAML front matter (without the --- lines), the same for README.md and the Hub.

    It names the library, pipeline, licence and base model (where known), tags, the Hub data set
    when the run used one (data.dataset), and a model-index with the test results (else the
    validation results) on the data set, or the file (by name) the rows came from.
    """
    from huggingface_hub import EvalResult, ModelCardData

    data = config.get("data") or {}
    dataset = data.get("dataset")
    dataset = dataset if isinstance(dataset, str) and dataset else None
    split = "test" if metrics.get("test") else "validation"
    report = metrics.get(split) or {}
    source = data.get("test_file") if split == "test" else data.get("validation_file")
    source = source or data.get("train_file")  # validation rows held out of the training file
    task = TASKS.get(str(metrics.get("task", DEFAULT_TASK.name)))  # metrics.json names it
    index_metrics = INDEX_METRICS[task] if task is not None else []
    dataset_name = dataset or (Path(source).name if source else split)
    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=dataset or dataset_name,
            dataset_name=dataset_name,
            dataset_split=split,
            metric_type=metric_type,
            metric_value=round(float(report[key]), 4),
            metric_name=name,
            metric_args=args,
        )
        for key, metric_type, name, args in index_metrics
        if isinstance(report.get(key), int | float) and math.isfinite(report[key])
    ]
    model = str((config.get("model") or {}).get("name", ""))
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        license=base_license(model),
        base_model=base_model(model),
        tags=["textfit", "text-classification"],
        datasets=[dataset] if dataset else None,
        metrics=list(dict.fromkeys(result.metric_type for result in results)) or None,
        model_name=model_name,
        eval_results=results or None,
    )
    return str(card_data.to_yaml())


def hub_model_card(model_dir: Path, repo_id: str, config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The Hub model card: the model folder's README.md (local paths made file names) under Hub metadata.

    The metadata (`card_metadata`) is that of README.md, written again: a card of an older run gets it too.
    """
    metadata = card_metadata(config, metrics, repo_id.split("/")[-1])
    return f"---\n{metadata}\n---\n{_card_body(model_dir, repo_id, local_paths(config))}"
