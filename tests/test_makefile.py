"""The Makefile's set-up choices, read with `make -n` and `make print-torch`: nothing is installed.

Which index torch comes from depends on whether nvidia-smi is on PATH; each test runs make with a
PATH of one folder, empty or holding a stand-in nvidia-smi.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(MAKE is None, reason="make is not installed"),
]


def run_make(tmp_path: Path, *args: str, gpu: bool = False) -> str:
    """make's output for `args` in the repository, with .venv in tmp_path (none there) and a PATH
    where nvidia-smi is found only if `gpu`."""
    assert MAKE is not None
    path = tmp_path / ("gpu-bin" if gpu else "bin")
    path.mkdir(exist_ok=True)
    if gpu:
        fake = path / "nvidia-smi"
        fake.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        fake.chmod(0o755)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TORCH_", "MAKE", "MFLAGS")) and name not in {"VENV", "LOCKED"}
    }
    env["PATH"] = str(path)
    result = subprocess.run(
        [MAKE, "-s", "--no-print-directory", *args, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def torch_install(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("torch install: ")]
    return line


def test_without_a_gpu_torch_comes_from_disk_else_the_cpu_index(tmp_path: Path) -> None:
    output = run_make(tmp_path, "print-torch")
    disk, _, index = torch_install(output).partition(" || ")

    assert "nvidia-smi found: no" in output
    assert disk.endswith('pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null')
    assert index.endswith(f'pip install -q {CPU_INDEX} "torch==2.13.0"')


def test_with_a_gpu_torch_comes_from_disk_else_pypi(tmp_path: Path) -> None:
    output = run_make(tmp_path, "print-torch", gpu=True)
    disk, _, index = torch_install(output).partition(" || ")

    assert "nvidia-smi found: yes" in output
    assert "--no-index" in disk
    assert index.endswith('pip install -q "torch==2.13.0"'), "pip's own index: the CUDA build"


def test_torch_spec_and_index_can_be_chosen(tmp_path: Path) -> None:
    output = run_make(
        tmp_path, "print-torch", "TORCH_SPEC=torch==2.5.1", "TORCH_INDEX_URL=https://example.org/cu124"
    )

    assert torch_install(output).endswith('--index-url https://example.org/cu124 "torch==2.5.1"')


@pytest.mark.parametrize("gpu", [False, True], ids=["no-gpu", "gpu"])
def test_venv_keeps_a_torch_it_finds_and_installs_textfit_without_the_dev_extras(
    tmp_path: Path, gpu: bool
) -> None:
    commands = run_make(tmp_path, "-n", "demo", gpu=gpu)

    assert '-c "import torch" 2>/dev/null || {' in commands, "a torch already there is kept"
    assert (CPU_INDEX in commands) is not gpu
    assert "pip install -q -e .\n" in commands
    assert "[dev]" not in commands
    assert "textfit train" in commands


def test_the_developer_targets_add_the_dev_extras(tmp_path: Path) -> None:
    commands = run_make(tmp_path, "-n", "test")

    assert "pip install -q -e .\n" in commands
    assert 'pip install -q -e ".[dev]"' in commands
    assert "pytest" in commands


def test_locked_installs_the_lock_then_textfit_without_resolving(tmp_path: Path) -> None:
    commands = run_make(tmp_path, "-n", "test", "LOCKED=1")
    locked_torch = next(
        line
        for line in (ROOT / "requirements-lock.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("torch==")
    )

    assert f'"{locked_torch}"' in commands, "torch at the lock's version, by the same rule"
    assert "grep -v '^torch==' requirements-lock.txt" in commands
    assert "pip install -q --no-deps -r " in commands
    assert "pip install -q -e . --no-deps" in commands
    assert "pip check" in commands
    assert "[dev]" not in commands


def test_the_range_job_reads_the_floors_from_pyproject(tmp_path: Path) -> None:
    commands = run_make(tmp_path, "-n", "test-range")

    assert "bash .ci/range lowest" in commands
    assert "bash .ci/range newest" in commands
