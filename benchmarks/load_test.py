"""A bounded load test of `textfit serve` on loopback: throughput and latency under 1, 8, 32 clients.

    textfit export RUN --format onnx --check ../shared/data/sms_spam/test.csv   # for --backend onnx
    python benchmarks/load_test.py RUN ../shared/data/sms_spam/test.csv --backend torch --backend onnx

For each backend the script first measures offline throughput (the model loaded in this process,
all texts of the table in one predict call), then starts `python -m textfit serve RUN --backend B`
on a free loopback port in a subprocess, and for each client count runs that many threads, each with
its own keep-alive connection, posting one text per request (the table's texts in turn) for
--duration seconds or --max-requests requests, whichever comes first. It reports requests/s,
texts/s, p50 / p95 / p99 latency and the errors (any answer other than 200, or no answer).
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from run_table import read_texts, run_table_parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offline_rate(run_dir: Path, backend: str, texts: list[str], threads: int | None) -> tuple[float, str]:
    """Texts/s of one predict call over all texts, the model loaded in this process; and its precision."""
    import torch

    from textfit.inference.classifier import Classifier
    from textfit.inference.onnx import OnnxClassifier

    if threads:
        torch.set_num_threads(threads)
    classifier = (
        OnnxClassifier.load(run_dir, threads=threads)
        if backend == "onnx"
        else Classifier.load(run_dir, device="cpu")
    )
    classifier.predict_proba(texts[:64])  # warm-up
    start = time.perf_counter()
    classifier.predict_proba(texts)
    return len(texts) / (time.perf_counter() - start), classifier.precision


def start_server(run_dir: Path, backend: str, port: int, threads: int | None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "textfit", "serve", str(run_dir), "--backend", backend]
    command += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(
        [*command, "--port", str(port), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"textfit serve stopped: {process.communicate()[1]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("textfit serve did not start within 300 s")


def load(port: int, texts: list[str], clients: int, duration: float, max_requests: int) -> dict[str, Any]:
    """Run `clients` threads against the server; returns the figures of this level."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    issued = iter(range(max_requests))
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            with lock:
                number = next(issued, None)
            if number is None:
                break
            body = json.dumps({"text": texts[number % len(texts)]}).encode()
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                latencies[index].append(time.perf_counter() - start)
            else:
                errors[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    done = np.array([value for values in latencies for value in values]) * 1000
    p50, p95, p99 = np.percentile(done, [50, 95, 99]) if len(done) else (float("nan"),) * 3
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(done),
        "requests_per_s": len(done) / elapsed,
        "texts_per_s": len(done) / elapsed,  # one text per request
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "errors": sum(errors),
    }


def main() -> None:
    parser = run_table_parser(__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["torch", "onnx"], help="repeatable")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per client count")
    parser.add_argument("--max-requests", type=int, default=100_000, help="requests per client count")
    parser.add_argument("--threads", type=int, help="CPU threads of the model (server and offline)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    texts = read_texts(args.table)
    results = []
    for backend in args.backend or ["torch"]:
        rate, precision = offline_rate(args.run_dir, backend, texts, args.threads)
        port = free_port()
        server = start_server(args.run_dir, backend, port, args.threads)
        try:
            load(port, texts, 4, 3.0, 200)  # warm-up
            for clients in (int(value) for value in args.clients.split(",")):
                level = load(port, texts, clients, args.duration, args.max_requests)
                results.append({"backend": f"{backend} ({precision})", "offline_texts_per_s": rate, **level})
                print(f"{backend} {clients} clients: {level}", file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(30)

    print(
        "| backend | clients | requests | requests/s | texts/s | offline texts/s "
        "| p50 ms | p95 ms | p99 ms | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['backend']} | {r['clients']} | {r['requests']} | {r['requests_per_s']:.1f} | "
            f"{r['texts_per_s']:.1f} | {r['offline_texts_per_s']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    if args.json_out:
        environment = {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "threads": args.threads,
            "table": str(args.table),
        }
        args.json_out.write_text(
            json.dumps({"environment": environment, "results": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
