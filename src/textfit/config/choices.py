"""What settings may name: table formats, precisions, schedulers, each task's metrics, the trackers."""

from __future__ import annotations

from typing import Literal

TableFormat = Literal["auto", "csv", "tsv", "jsonl", "parquet"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Strategy = Literal["no", "steps", "epoch"]
Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
]


# The validation metrics each task reports (metrics.classification_report, multilabel_report,
# regression_report), which metric_for_best_model may name for that task.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "single_label": (
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "precision_macro",
        "precision_weighted",
        "recall_macro",
        "recall_weighted",
        "top_2_accuracy",
        "top_3_accuracy",
        "loss",
    ),
    "multi_label": (
        "f1_micro",
        "f1_macro",
        "f1_samples",
        "subset_accuracy",
        "hamming_loss",
        "precision_micro",
        "precision_macro",
        "recall_micro",
        "recall_macro",
        "loss",
    ),
    "regression": ("rmse", "mae", "pearson", "spearman", "loss"),
}
# What metric_for_best_model may name, whatever the task (the task's own list is checked once the
# task is known).
BEST_MODEL_METRICS = tuple(dict.fromkeys(name for names in TASK_METRICS.values() for name in names))
# The metrics of BEST_MODEL_METRICS where lower is better.
LOWER_IS_BETTER = ("loss", "hamming_loss", "rmse", "mae")

# What train.report_to may name: the Trainer's experiment trackers, each with the modules that
# provide it (any one is enough) and what to install when none is there.
TRACKERS: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), 'pip install "textfit[tracking]" (or tensorboard)'),
    "mlflow": (("mlflow",), 'pip install "textfit[tracking]" (or mlflow-skinny)'),
    "wandb": (("wandb",), "pip install wandb"),
    "comet_ml": (("comet_ml",), "pip install comet-ml"),
    "clearml": (("clearml",), "pip install clearml"),
    "dvclive": (("dvclive",), "pip install dvclive"),
    "neptune": (("neptune",), "pip install neptune"),
    "trackio": (("trackio",), "pip install trackio"),
    "swanlab": (("swanlab",), "pip install swanlab"),
    "codecarbon": (("codecarbon",), "pip install codecarbon"),
}
