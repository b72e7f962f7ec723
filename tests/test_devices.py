"""train.device: auto takes a CUDA, MPS or XPU GPU where there is one; a device asked for must be there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from textfit import ConfigError
from textfit.config.loading import with_settings
from textfit.devices import device_available, pick_device
from textfit.inference import classifier as classifier_module
from textfit.inference.classifier import Classifier
from textfit.training.arguments import own_arguments


class _Available:
    def __init__(self, available: bool) -> None:
        self.available = available

    def is_available(self) -> bool:
        return self.available


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make torch see the given accelerators (and only those)."""

    def have(*devices: str) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: "cuda" in devices)
        monkeypatch.setattr(torch.backends, "mps", _Available("mps" in devices), raising=False)
        monkeypatch.setattr(torch, "xpu", _Available("xpu" in devices), raising=False)

    return have


@pytest.mark.parametrize(
    ("devices", "chosen"),
    [((), "cpu"), (("cuda",), "cuda"), (("mps",), "mps"), (("xpu",), "xpu"), (("cuda", "xpu"), "cuda")],
)
def test_auto_takes_the_first_accelerator_there_else_the_cpu(
    machine: Any, devices: tuple[str, ...], chosen: str
) -> None:
    machine(*devices)

    assert pick_device("auto") == chosen
    assert pick_device() == chosen


@pytest.mark.parametrize("device", ["cpu", "cuda", "mps", "xpu"])
def test_a_device_that_is_there_is_taken(machine: Any, device: str) -> None:
    machine(device)

    assert pick_device(device) == device


def test_a_device_that_is_not_there_is_a_config_error_with_a_hint(machine: Any) -> None:
    machine()

    with pytest.raises(ConfigError, match=re.escape("device 'mps' is not available on this machine")) as err:
        pick_device("mps")

    assert "(no GPU found: only the CPU)" in err.value.message
    assert "--device auto" in str(err.value.hint)


def test_the_error_names_the_devices_found(machine: Any) -> None:
    machine("cuda")

    with pytest.raises(
        ConfigError, match=re.escape("device 'xpu' is not available on this machine (found: cuda)")
    ):
        pick_device("xpu")


def test_a_torch_without_xpu_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch, "xpu", raising=False)

    assert not device_available("xpu")


@pytest.mark.parametrize(
    ("devices", "device", "use_cpu"),
    [
        ((), "auto", True),  # as before: a CPU-only machine trains on the CPU
        (("cuda",), "auto", False),
        (("mps",), "auto", False),  # the Trainer picks MPS (it used to be sent to the CPU)
        (("xpu",), "auto", False),
        (("cuda",), "cpu", True),
        (("mps",), "mps", False),
    ],
)
def test_the_training_arguments_use_the_cpu_only_where_chosen(
    machine: Any, devices: tuple[str, ...], device: str, use_cpu: bool
) -> None:
    machine(*devices)
    cfg = with_settings(None, {"device": device})

    assert own_arguments(cfg, Path("out"), "fp32", progress=False)["use_cpu"] is use_cpu


def test_training_on_a_device_not_there_fails_before_training(
    machine: Any, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    import textfit

    machine()
    with pytest.raises(ConfigError, match=re.escape("device 'cuda' is not available")):
        textfit.train(train_file=binary_csv, output_dir=tmp_path / "run", **tiny_settings, device="cuda")

    assert not list(tmp_path.iterdir())


def test_prediction_picks_its_default_device_as_training_does(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def pick(requested: str = "auto") -> str:
        asked.append(requested)
        return "cpu"

    monkeypatch.setattr(classifier_module, "pick_device", pick)

    classifier = Classifier.load(tiny_run_dir)

    assert asked == ["auto"]
    assert classifier.model.device.type == "cpu"
