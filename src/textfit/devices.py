"""Which device trains or predicts: train.device (auto, cpu, cuda, mps, xpu) checked and resolved."""

from __future__ import annotations

from typing import Literal

from textfit.errors import ConfigError

Device = Literal["auto", "cpu", "cuda", "mps", "xpu"]

# The accelerators, in the order auto takes them (that of the Trainer's own choice).
ACCELERATORS = ("cuda", "mps", "xpu")


def device_available(device: str) -> bool:
    """Whether this machine's torch can run on the device: cuda, mps, xpu (cpu always can)."""
    import torch

    if device == "cuda":
        return bool(torch.cuda.is_available())
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    if device == "xpu":
        xpu = getattr(torch, "xpu", None)  # torch 2.4 and later
        return bool(xpu is not None and xpu.is_available())
    return device == "cpu"


def pick_device(requested: str = "auto") -> str:
    """The device to run on: 'auto' is the first available of cuda, mps, xpu, else cpu.

    Args:
        requested: auto, cpu, cuda, mps or xpu (train.device, or --device of predict).

    Raises:
        ConfigError: the device asked for is not available on this machine.
    """
    if requested == "auto":
        return next((name for name in ACCELERATORS if device_available(name)), "cpu")
    if not device_available(requested):
        found = [name for name in ACCELERATORS if device_available(name)]
        raise ConfigError(
            f"device {requested!r} is not available on this machine"
            + (f" (found: {', '.join(found)})" if found else " (no GPU found: only the CPU)"),
            hint="pass --device auto to take what is there (or --device cpu); for "
            f"{requested}, install a torch build with {requested} support",
        )
    return requested
