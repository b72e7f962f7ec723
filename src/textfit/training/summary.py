"""What a finished training run or study says on the terminal: where it is, its metrics, what next.

Plain strings, for the command line (or a notebook) to print; nothing here prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textfit.report.summary import metrics_summary
from textfit.training.tune import SEARCHED, TuneResult

if TYPE_CHECKING:
    from textfit.training.distill import DistillResult
    from textfit.training.train import TrainResult


def train_summary(result: TrainResult) -> str:
    """Where the run was saved, how long it trained, its validation and test metrics, its report."""
    train = result.metrics["train"]
    lines = [
        f"run saved to {result.run_dir}",
        f"trained on {train['samples']} rows in {train['runtime_seconds']:.0f} s ({result.precision})",
    ]
    for split in ("validation", "test"):
        if result.metrics.get(split):
            lines.append("\n" + metrics_summary(result.metrics[split], f"{split}:"))
    if result.report_file is not None:
        lines.append(f"\nreport: {result.report_file} (figures, calibration, the most confident mistakes)")
    return "\n".join(lines)


def distill_summary(result: DistillResult) -> str:
    """train_summary, then the teacher, the rows with and without a label, and both scores side by side."""
    info = result.teacher
    lines = [
        train_summary(result),
        "",
        f"distilled from {info['teacher']['run']} ({info['teacher']['model']}) at temperature "
        f"{info['temperature']:g}, alpha {info['alpha']:g}: {info['labelled_rows']} training rows with a "
        f"label, {info['unlabelled_rows']} without; validation labels: {info['validation_labels']}",
        f"{'macro F1':12}{'teacher':>10}{'student':>10}{'agreement':>12}  (share of rows: same class)",
    ]
    for split in ("validation", "test"):
        teacher, student = info["teacher"].get(split), result.metrics.get(split)
        if teacher and student:
            shared = result.agreement.get(split)
            agreement = "-" if shared is None else f"{shared:.4f}"
            lines.append(f"{split:12}{teacher['f1_macro']:>10.4f}{student['f1_macro']:>10.4f}{agreement:>12}")
    return "\n".join(lines)


def next_steps(result: TrainResult | TuneResult) -> str:
    """The `next:` line: predict with a trained run; evaluate a study's best run on the test table."""
    if isinstance(result, TuneResult):
        return f"next: textfit evaluate {result.best_dir} test.csv"
    return f"next: textfit predict {result.run_dir} new_texts.csv -o predictions.csv"


def trial_table(result: TuneResult) -> str:
    """A study's trials, best first: number, state, metric and each searched setting that varied."""
    rows = sorted(
        result.trials,
        key=lambda row: (
            row["value"] is None,
            -(row["value"] or 0) if result.direction == "maximize" else row["value"] or 0,
        ),
    )
    names = [name for name in SEARCHED if any(row[name] is not None for row in rows)]
    lines = [
        f"{len(rows)} trials in {result.trials_file}, best first ({result.metric}):",
        "  " + "  ".join(f"{h:>13}" for h in ["trial", "state", result.metric, *names]),
    ]
    for row in rows:
        cells = [str(row["trial"]), row["state"], "-" if row["value"] is None else f"{row['value']:.4f}"]
        cells += ["-" if row[name] is None else f"{row[name]:.4g}" for name in names]
        lines.append("  " + "  ".join(f"{cell:>13}" for cell in cells))
    return "\n".join(lines)


def best_trial(result: TuneResult) -> str:
    """The best trial, its metric, and where its run was copied (a study with a completed trial)."""
    return (
        f"best: trial {result.best_trial}, {result.metric} {result.best_value:.4f}; "
        f"run saved to {result.best_dir}"
    )
