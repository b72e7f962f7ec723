"""Scale benchmark (issue 3): read, validate and tokenize a million-row table, its memory, the cache.

The table is AG News train.csv (about 9.8k rows) repeated to --rows rows, written to --work-dir (never
to the repository). Each measurement runs in a fresh subprocess and times what `textfit train` does
before the Trainer starts: `load_splits` (read, validate, stratified 10% validation split), the label
ids, `tokenize_examples` of the training and the validation split, with the MiniLM tokenizer at
max_length 256, and the data checks (`check_splits` with the token lengths just counted; where the
code under test has them). Imports (those load_splits makes on first use included) and
loading the tokenizer are not timed. Peak memory is the child's ru_maxrss over its whole life (imports
included); CPU is its user + system time over the timed part.

Runs:
- cold: the new path, empty cache: reads, validates, tokenizes and writes the cache;
- warm: the same again, the token ids read from the cache;
- parquet, warm (with --parquet): the same rows from a Parquet copy; same texts, so the same entry;
- before / after on --baseline-rows rows: the code before this work (`git archive` of
  --baseline-ref, run with PYTHONPATH) and the new path (cold) on the same first rows.

    python benchmarks/scale.py                                        # 1M rows, baseline on 100k
    python benchmarks/scale.py --rows 50000 --baseline-rows 20000     # a quick run
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ag_news" / "train.csv"
MAX_LENGTH = 256
SEED = 42


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV with text,label (%(default)s)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big table (%(default)s)")
    parser.add_argument(
        "--baseline-rows", type=int, default=100_000, help="rows for the before/after pair; 0: skip it"
    )
    parser.add_argument(
        "--baseline-ref",
        default="auto",
        help="git ref of the code before this work; auto: the parent of the commit that added tables.py",
    )
    parser.add_argument("--parquet", action="store_true", help="also read a Parquet copy (cache warm)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/textfit-scale"), help="%(default)s")
    parser.add_argument("--model", default="minilm", help="whose tokenizer (%(default)s)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- the tables


def build_csv(source: Path, target: Path, rows: int) -> Path:
    """`rows` data rows: the rows of `source` over and over (written by csv, minimal quoting)."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [record for record in reader if record]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(itertools.islice(itertools.cycle(records), rows))
    return target


def build_parquet(table_csv: Path) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = table_csv.with_suffix(".parquet")
    strings = pacsv.ConvertOptions(column_types={"text": pa.string(), "label": pa.string()})
    options = pacsv.ParseOptions(newlines_in_values=True)
    pq.write_table(pacsv.read_csv(table_csv, parse_options=options, convert_options=strings), target)
    return target


def export_baseline(ref: str, folder: Path) -> Path:
    """The src/ folder of `ref`, for PYTHONPATH."""
    if ref == "auto":
        added = git("log", "--diff-filter=A", "--format=%H", "--", "src/textfit/data/tables.py").split()
        if not added:
            raise SystemExit(
                "cannot find the commit that added src/textfit/data/tables.py; pass --baseline-ref"
            )
        ref = added[-1] + "^"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "ref.txt").write_text(git("rev-parse", "--short", ref) + "\n", encoding="utf-8")
    return folder / "src"


def git(*args: str) -> str:
    command = ["git", "-C", str(REPO_ROOT), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- one measurement (in a child)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Read, validate and tokenize spec["file"] as `textfit train` does; the figures of this process."""
    import importlib
    import logging
    import resource

    import pyarrow.compute as pc
    from transformers import AutoTokenizer

    from textfit import tokenization
    from textfit.config.schema import DataConfig
    from textfit.data.labels import LabelSet
    from textfit.data.splits import load_splits

    try:
        from textfit.checks.run import check_splits
    except ImportError:  # the code before the checks (the baseline)
        check_splits = None

    for module in ("datasets", "pyarrow.csv", "pyarrow.json", "pyarrow.parquet", "sklearn.model_selection"):
        importlib.import_module(module)  # imported on first use by the code under test: not timed
    logging.basicConfig(level=logging.ERROR)
    cache_lines: list[str] = []

    class CacheLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            cache_lines.append(record.getMessage())

    logging.getLogger("textfit.tokenization").addHandler(CacheLog(logging.INFO))
    logging.getLogger("textfit.tokenization").setLevel(logging.INFO)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    options = {} if spec["cache"] is None else {"cache": spec["cache"]}  # the old code has no switch

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu_before, started = cpu_seconds(), time.perf_counter()
    splits = load_splits(DataConfig(train_file=Path(spec["file"])), SEED)
    loaded = time.perf_counter()
    labels = LabelSet.from_labels(splits.train.labels)
    tokenized = [
        tokenization.tokenize_examples(part, tokenizer, MAX_LENGTH, labels.encode(part), **options)
        for part in (splits.train, splits.validation)
    ]
    tokenized_at = time.perf_counter()
    warnings = []
    if check_splits is not None:
        lengths = tokenization.token_lengths(tokenized[0])
        report = check_splits(splits, max_length=MAX_LENGTH, lengths=lengths, lengths_cut=True)
        warnings = report.warnings
    finished, cpu_after = time.perf_counter(), cpu_seconds()
    rows = len(splits.train) + len(splits.validation)
    return {
        "rows": rows,
        "tokens": sum(pc.sum(dataset.data.column("length")).as_py() for dataset in tokenized),
        "load_seconds": loaded - started,
        "tokenize_seconds": tokenized_at - loaded,
        "checks_seconds": finished - tokenized_at,
        "check_warnings": warnings,
        "seconds": finished - started,
        "rows_per_second": rows / (finished - started),
        "cpu_seconds": cpu_after - cpu_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cache": "written"
        if any("into the cache" in line for line in cache_lines)
        else "read"
        if any("read from the tokenization cache" in line for line in cache_lines)
        else "off",
    }


def run_child(name: str, spec: dict[str, Any], pythonpath: Path | None = None) -> dict[str, Any]:
    env = dict(
        os.environ, TEXTFIT_CACHE=spec["cache_dir"], HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error"
    )
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    load = os.getloadavg()[0]
    print(f"{name}: {spec['file']} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{name} failed (exit {done.returncode})")
    result: dict[str, Any] = {
        "run": name,
        "load_average_before": load,
        **json.loads(done.stdout.splitlines()[-1]),
    }
    print(
        f"{name}: {result['rows_per_second']:,.0f} rows/s, {result['peak_rss_mib']:,.0f} MiB", file=sys.stderr
    )
    return result


# ---------------------------------------------------------------- the report


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| run | rows | read + validate + split s | tokenize s | checks s | total s | rows/s | CPU s "
        "| peak RSS MiB | cache | load avg before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['run']} | {r['rows']:,} | {r['load_seconds']:.1f} | {r['tokenize_seconds']:.1f} "
            f"| {r['checks_seconds']:.1f} | {r['seconds']:.1f} | {r['rows_per_second']:,.0f} "
            f"| {r['cpu_seconds']:.1f} "
            f"| {r['peak_rss_mib']:,.0f} | {r['cache']} | {r['load_average_before']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(json.loads(args.child))))
        return
    from textfit.modeling import resolve_model

    work = args.work_dir.resolve()
    model = resolve_model(args.model)
    print(f"building {args.rows:,} rows in {work} ...", file=sys.stderr, flush=True)
    table = build_csv(args.data, work / f"ag_news_{args.rows}.csv", args.rows)
    cache_dir = work / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    spec = {"file": str(table), "model": model, "cache": True, "cache_dir": str(cache_dir)}
    results = [run_child("cold", spec), run_child("warm", spec)]
    if args.parquet:
        results.append(run_child("parquet, warm", {**spec, "file": str(build_parquet(table))}))
    if args.baseline_rows:
        small = build_csv(args.data, work / f"ag_news_{args.baseline_rows}.csv", args.baseline_rows)
        old_src = export_baseline(args.baseline_ref, work / "baseline")
        ref = (work / "baseline" / "ref.txt").read_text(encoding="utf-8").strip()
        old_spec = {**spec, "file": str(small), "cache": None, "cache_dir": str(work / "cache-baseline")}
        results.append(run_child(f"before ({ref})", old_spec, pythonpath=old_src))
        shutil.rmtree(work / "cache-small", ignore_errors=True)
        results.append(
            run_child("after, cold", {**spec, "file": str(small), "cache_dir": str(work / "cache-small")})
        )
    print(markdown(results))
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; command: python benchmarks/scale.py {' '.join(sys.argv[1:])}"
    )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
