"""The report of a run: report.html (one self-contained page, figures embedded) and the figures as PNG.

Built from the run folder's files only, including its predictions tables (report.predictions);
matplotlib is imported only when a report is drawn. Here: reading the run, and the sections of a
single-label run; those of multi-label and regression runs are in report.tasks.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from textfit.data.tasks import DEFAULT_TASK, MULTI_LABEL, REGRESSION, SINGLE_LABEL, TASKS, Task
from textfit.errors import DataError, ModelError
from textfit.files import write_atomic, write_text_atomic
from textfit.metrics import Calibration, calibration
from textfit.report import markup
from textfit.report.figures import confusion_heat_map, per_class_bars, reliability_curve, training_curves
from textfit.report.label_errors import label_errors_section, read_label_errors
from textfit.report.predictions import read_predictions
from textfit.report.tasks import multi_label_page, regression_page

FIGURE_NAMES = ("per_class", "confusion_counts", "confusion_normalized", "curves", "calibration")
# The figures of multi-label and regression runs (report.tasks), besides the curves.
TASK_FIGURE_NAMES = ("per_label", "cooccurrence", "scatter", "residuals")
# What a split's metrics must hold, per task, for its report.
NEEDED_METRICS: dict[Task, tuple[str, ...]] = {
    SINGLE_LABEL: ("labels", "per_class", "confusion_matrix", "accuracy", "samples"),
    MULTI_LABEL: ("labels", "per_label", "f1_micro", "samples"),
    REGRESSION: ("rmse", "mae", "samples"),
}
_NOT_A_RUN_HINT = "pass the folder `textfit train` wrote (runs/<name> by default)"
_METRICS = [
    ("samples", "samples"),
    ("accuracy", "accuracy"),
    *((f"{m}_{a}", f"{m} ({a})") for a in ("macro", "weighted") for m in ("precision", "recall", "f1")),
    ("top_2_accuracy", "top-2 accuracy"),
    ("top_3_accuracy", "top-3 accuracy"),
]


def write_report(
    run_dir: str | Path,
    split: str = "validation",
    *,
    metrics: dict[str, Any] | None = None,
    predictions: str | Path | None = None,
    output: str | Path | None = None,
    title: str | None = None,
) -> Path:
    """Write the report of one split of a run: report.html with its figures embedded, and the PNGs.

    Reads only the run folder's files (metrics.json, log_history.json, run_config.yaml, the
    split's predictions table, label_errors.csv where there is one; for a table given to
    `textfit evaluate`, eval-<name>.json and eval-<name>.predictions.parquet): no model is loaded.

    Args:
        run_dir: a run folder written by `train`.
        split: "validation", "test", or the file name (without extension) of an evaluation.
        metrics: the split's metrics (as `tasks.evaluation_report` returns, with "task" for a
            multi-label or regression run); default: read from the run.
        predictions: the split's predictions table (report.predictions); default: found in the run.
        output: the HTML file; default RUN_DIR/report.html (validation) or RUN_DIR/report-<split>.html.
        title: the page's heading; default the run folder's name.

    Returns:
        The HTML file's path; the PNGs are in figures/ (or figures-<split>/) beside it.

    Raises:
        ModelError: run_dir is not a run folder, or one of its files is damaged.
        DataError: the run has no metrics for `split`.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ModelError(f"run folder {run_dir} does not exist", hint="pass the --output-dir of a run")
    run_metrics = _read_json(run_dir / "metrics.json")
    if metrics is None:
        metrics, found = _find_split(run_dir, split, run_metrics)
        predictions = predictions or found
    run_metrics = run_metrics if isinstance(run_metrics, dict) else {}
    task = _task_of((metrics.get("task") if isinstance(metrics, dict) else None) or run_metrics.get("task"))
    metrics = _checked_metrics(metrics, f"the metrics of {split!r}", task)
    table = read_predictions(Path(predictions), task) if predictions is not None else None
    log_history = _read_json(run_dir / "log_history.json")
    log_history = log_history if isinstance(log_history, list) else None
    output = Path(output) if output is not None else run_dir / _report_name(split)
    other_splits = {k: run_metrics[k] for k in ("validation", "test") if k != split and run_metrics.get(k)}
    splits = {split: metrics, **other_splits}
    heading = title or run_dir.name
    intro = markup.intro(heading, _facts(run_dir, split, task, metrics, run_metrics))
    figures, body = PAGES[task](intro, splits, table, log_history)
    label_errors = read_label_errors(run_dir)  # `textfit train --label-errors`
    if label_errors is not None:
        body += "\n" + "\n".join(label_errors_section(label_errors))
    _write_figures(output.with_name("figures" + output.stem.removeprefix("report")), figures)
    write_text_atomic(output, markup.document(heading, split, body))
    return output


def _write_figures(figures_dir: Path, figures: dict[str, bytes | None]) -> None:
    """Save the PNGs drawn; remove those an earlier report drew that this one has not."""
    for name in (*FIGURE_NAMES, *TASK_FIGURE_NAMES):
        png, path = figures.get(name), figures_dir / f"{name}.png"
        if png is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, lambda tmp, png=png: tmp.write_bytes(png))  # type: ignore[misc]


# ---------------------------------------------------------------- reading the run folder


def _read_json(path: Path) -> Any:
    """The parsed file, None when it does not exist; a damaged file is a ModelError."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(
            f"{path} is damaged: {err}", hint="train (or evaluate) again to rewrite it"
        ) from None


def _task_of(name: Any) -> Task:
    """The task a metrics file names ("task"); single-label where it names none textfit knows."""
    return TASKS.get(str(name), DEFAULT_TASK)


def _checked_metrics(metrics: Any, source: Path | str, task: Task | None = None) -> dict[str, Any]:
    task = task or _task_of(metrics.get("task") if isinstance(metrics, dict) else None)
    needed = NEEDED_METRICS[task]
    missing = [key for key in needed if not isinstance(metrics, dict) or key not in metrics]
    if missing:
        raise ModelError(
            f"{source} is damaged: its metrics lack {', '.join(missing)}",
            hint="train (or evaluate) again to rewrite it",
        )
    return metrics  # type: ignore[no-any-return]


def _find_split(run_dir: Path, split: str, run_metrics: Any) -> tuple[dict[str, Any], Path]:
    """The metrics of a split and the path of its predictions: eval-<split>.json, else metrics.json."""
    if run_metrics is None:
        raise ModelError(f"{run_dir} is not a textfit run: it has no metrics.json", hint=_NOT_A_RUN_HINT)
    if not isinstance(run_metrics, dict):
        raise ModelError(f"{run_dir / 'metrics.json'} is damaged", hint="train the run again")
    evaluated = run_dir / f"eval-{split}.json"
    if split != "validation" and evaluated.is_file():
        metrics = _checked_metrics(_read_json(evaluated), evaluated)
        return metrics, evaluated.with_name(f"eval-{split}.predictions.parquet")
    if run_metrics.get(split):
        task = _task_of(run_metrics.get("task"))
        metrics = _checked_metrics(run_metrics[split], run_dir / "metrics.json", task)
        return metrics, run_dir / f"predictions-{split}.parquet"
    found = [name for name in ("validation", "test") if run_metrics.get(name)]
    found += [path.stem.removeprefix("eval-") for path in sorted(run_dir.glob("eval-*.json"))]
    raise DataError(
        f"{run_dir} has no metrics for {split!r}" + (f"; it has: {', '.join(found)}" if found else ""),
        hint="`textfit evaluate RUN_DIR FILE` writes eval-<file name>.json; then pass --split <file name>",
    )


def _facts(
    run_dir: Path, split: str, task: Task, metrics: dict[str, Any], run_metrics: dict[str, Any]
) -> dict[str, str]:
    """The line under the heading: split, examples, task, labels, model, data files, training."""
    facts = {"split": split, "examples": f"{metrics['samples']:,}"}
    if task is not DEFAULT_TASK:  # the default goes unnamed
        facts["task"] = task.title
    if "labels" in metrics:
        facts["labels"] = f"{len(metrics['labels'])}"
    facts |= _read_run_config(run_dir / "run_config.yaml")
    if isinstance(run_metrics.get("train"), dict):
        facts["trained"] = _trained(run_metrics["train"])
    return facts


# ---------------------------------------------------------------- the single-label page


def _single_label_page(
    intro: list[str],
    splits: dict[str, dict[str, Any]],
    table: pa.Table | None,
    log_history: list[dict[str, Any]] | None,
) -> tuple[dict[str, bytes | None], str]:
    """The figures and the page body of a single-label split (the first of `splits`)."""
    metrics = next(iter(splits.values()))
    names = list(metrics["labels"])
    matrix = np.asarray(metrics["confusion_matrix"], dtype=np.int64).reshape(len(names), len(names))
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    figures: dict[str, bytes | None] = {
        "per_class": per_class_bars(metrics),
        "confusion_counts": confusion_heat_map(matrix, names, normalized=False),
        "confusion_normalized": confusion_heat_map(normalized, names, normalized=True),
        "curves": training_curves(log_history) if log_history is not None else None,
    }
    curve = None
    if table is not None and table.num_rows:
        correct = pc.equal(table["label"], table["predicted_label"]).to_numpy(zero_copy_only=False)
        curve = calibration(table["confidence"].to_numpy(), correct)
        figures["calibration"] = reliability_curve(curve)
    parts = [*intro, *_scores_sections(splits, figures), *_calibration_sections(figures, curve, table)]
    return figures, "\n".join(parts)


# The page of each task: (intro, splits' metrics, predictions table, log history) -> (figures, body).
PAGES: dict[Task, Callable[..., tuple[dict[str, bytes | None], str]]] = {
    SINGLE_LABEL: _single_label_page,
    MULTI_LABEL: multi_label_page,
    REGRESSION: regression_page,
}


def _scores_sections(splits: dict[str, dict[str, Any]], figures: dict[str, bytes | None]) -> list[str]:
    """Metrics, metrics per group, scores per class, confusion matrix, training curves; escaped."""
    split, metrics = next(iter(splits.items()))
    rows = [
        [label, *(m.get(key, "") for m in splits.values())]
        for key, label in _METRICS
        if any(key in m for m in splits.values())
    ]
    per_class = [
        [name, *(row[k] for k in ("precision", "recall", "f1", "support"))]
        for name, row in metrics["per_class"].items()
    ]
    return [
        '<h2 id="metrics">Metrics</h2>',
        markup.table(["metric", *splits], rows),
        *_groups_section(metrics),
        '<h2 id="per-class">Precision, recall and F1 per class</h2>',
        markup.figure(figures["per_class"], "per-class bars", f"{split}: scores per class"),
        "<details><summary>table</summary>"
        + markup.table(["label", "precision", "recall", "F1", "support"], per_class)
        + "</details>",
        '<h2 id="confusion">Confusion matrix</h2>',
        '<div class="row">'
        + markup.figure(figures["confusion_counts"], "confusion matrix, counts", "rows: true label; examples")
        + markup.figure(
            figures["confusion_normalized"],
            "confusion matrix, normalised",
            "rows: true label, each divided by its total (the diagonal is the recall)",
        )
        + "</div>",
        '<h2 id="curves">Training curves</h2>',
        markup.figure(figures["curves"], "training curves", "loss and validation scores per training step")
        or markup.NO_CURVES,
    ]


def _calibration_sections(
    figures: dict[str, bytes | None], curve: Calibration | None, table: pa.Table | None
) -> list[str]:
    """The calibration curve and its bins, then the most confidently wrong predictions."""
    parts = ['<h2 id="calibration">Calibration</h2>']
    if curve is None or table is None:
        parts.append(
            '<p class="note">No predictions for this split: no calibration curve and no examples '
            "(runs trained before reports lack them; train or evaluate again).</p>"
        )
        return parts
    bins = [
        [f"{lo:.2f}-{hi:.2f}", int(n), acc, conf]
        for lo, hi, n, acc, conf in zip(
            curve.edges[:-1].tolist(),
            curve.edges[1:].tolist(),
            curve.counts.tolist(),
            curve.accuracy.tolist(),
            curve.confidence.tolist(),
            strict=True,
        )
        if n
    ]
    return [
        *parts,
        f"<p>Expected calibration error (ECE, {len(curve.counts)} bins of the predicted label's "
        f"probability): <b>{curve.ece:.4f}</b></p>",
        markup.figure(
            figures["calibration"], "reliability curve", "accuracy per confidence bin; below: examples"
        ),
        "<details><summary>bins</summary>"
        + markup.table(["confidence", "examples", "accuracy", "mean confidence"], bins)
        + "</details>",
        '<h2 id="wrong">Most confidently wrong predictions</h2>',
        _wrong_table(table),
    ]


def _wrong_table(predictions: pa.Table) -> str:
    wrong = predictions.filter(pc.not_equal(predictions["label"], predictions["predicted_label"]))
    if wrong.num_rows == 0:
        return '<p class="note">No wrong predictions.</p>'
    order = np.argsort(-wrong["confidence"].to_numpy(), kind="stable")[: markup.WRONG_EXAMPLES]
    top = wrong.take(pa.array(order)).to_pylist()
    pair = "text_pair" in predictions.column_names
    header = ["row", "confidence", "true label", "predicted", "text", *(["second text"] if pair else [])]
    rows = [
        [r["row"], r["confidence"], r["label"], r["predicted_label"], markup.cut_text(r["text"])]
        + ([markup.cut_text(r["text_pair"])] if pair else [])
        for r in top
    ]
    note = f"<p>{wrong.num_rows:,} of {predictions.num_rows:,} predictions are wrong; the "
    note += f"{len(rows)} made with the highest confidence (row: the data row in its file):</p>"
    return note + markup.table(
        header, rows, row="n", text="text", **({"second text": "text"} if pair else {})
    )


def _groups_section(metrics: dict[str, Any]) -> list[str]:
    """The metrics per group (data.group_column), weakest macro-F1 first; nothing without groups."""
    groups = metrics.get("groups")
    if not isinstance(groups, dict) or not groups:
        return []
    column = str(metrics.get("group_column") or "group")
    rows = [
        [name, g["accuracy"], g["f1_macro"], g["f1_weighted"], g["samples"]] for name, g in groups.items()
    ]
    return [
        '<h2 id="groups">Metrics per group</h2>',
        f'<p class="note">Per {html.escape(column)}, the weakest macro-F1 first.</p>',
        markup.table([column, "accuracy", "macro F1", "weighted F1", "rows"], rows),
    ]


def _report_name(split: str) -> str:
    return "report.html" if split == "validation" else f"report-{split}.html"


def _trained(train: dict[str, Any]) -> str:
    return f"{train.get('samples', '?')} rows, {train.get('epochs', 0):g} epochs, " + (
        f"{train.get('runtime_seconds', 0):.0f} s ({train.get('precision', '?')})"
    )


def _read_run_config(path: Path) -> dict[str, str]:
    """The model and data files of a run, from its run_config.yaml (nothing when it is unreadable)."""
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        data, model = cfg["data"], cfg["model"]
        if data.get("dataset"):  # a data set by name: its id (or folder) and config
            files = {"data set": "/".join(filter(None, [data["dataset"], data.get("dataset_config")]))}
        else:
            files = {"training file": Path(data["train_file"]).name}
        if data.get("validation_file"):
            files["validation file"] = Path(data["validation_file"]).name
        return {"model": str(model["name"]), **files}
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
