"""Single-process against 2-process (torchrun, gloo) CPU training of MiniLM on SMS spam.

Same effective batch: 1 process x 32 rows with 2 torch threads, against 2 processes x 16 rows with 1
thread each; 1 epoch, otherwise textfit's defaults. Each side runs as `textfit train` in its own
process (group) with its own empty tokenization cache, and reports from its metrics.json:
train samples/s (training rows x epochs / wall time of `trainer.train()`, including the end-of-epoch
validation) and test macro-F1. Prints a Markdown table.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/distributed_cpu.py --data /work/shared/data/sms_spam
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_side(
    name: str, processes: int, batch_size: int, threads: int, data: Path, work: Path
) -> dict[str, float]:
    """Train one side; its metrics.json figures."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        launcher += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    command = [
        *launcher,
        *("-m", "textfit", "train", str(data / "train.csv"), "--test-file", str(data / "test.csv")),
        *("-o", str(work / name), "--epochs", "1", "--batch-size", str(batch_size), "-q"),
        *(["--set", "train.ddp_backend=gloo"] if processes > 1 else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TEXTFIT_CACHE": str(work / f"cache-{name}")}
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads((work / name / "metrics.json").read_text(encoding="utf-8"))
    return {
        "samples_per_second": metrics["train"]["samples_per_second"],
        "runtime_seconds": metrics["train"]["runtime_seconds"],
        "f1_macro": metrics["test"]["f1_macro"],
        "precision": metrics["train"]["precision"],
    }


def main() -> None:
    """Run both sides and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/sms_spam"))
    args = parser.parse_args()
    sides = [("1 process x 32, 2 threads", 1, 32, 2), ("2 processes x 16, 1 thread each", 2, 16, 1)]
    with tempfile.TemporaryDirectory(prefix="textfit-ddp-bench-") as tmp:
        results = {
            label: run_side(f"side{i}", processes, batch, threads, args.data, Path(tmp))
            for i, (label, processes, batch, threads) in enumerate(sides)
        }
    print("| run | precision | train s | train samples/s | test macro-F1 |")
    print("|---|---|---:|---:|---:|")
    for label, figures in results.items():
        print(
            f"| {label} | {figures['precision']} | {figures['runtime_seconds']:.1f} | "
            f"{figures['samples_per_second']:.1f} | {figures['f1_macro']:.4f} |"
        )


if __name__ == "__main__":
    main()
