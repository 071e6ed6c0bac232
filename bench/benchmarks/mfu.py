"""Model FLOP utilisation: a network's counted FLOPs per second over the device's bf16 peak."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets. The first
# name contained in the device's name wins, so the specific names come first.
PEAK_BF16_TFLOPS = (
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100 PCIe", 756.5),
    ("H100 NVL", 835.5),
    ("H100", 989.4),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
)


def peak_flops(device_name: str) -> float | None:
    """The bf16 peak in FLOP/s of a device by its name, or None when the table lacks it."""
    for name, tflops in PEAK_BF16_TFLOPS:
        if name in device_name:
            return tflops * 1e12
    return None


def count_flops(step: Callable[[], None]) -> int:
    """FLOPs of one call of ``step`` (a forward and backward pass), counted by PyTorch."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def mfu(flops_per_step: float, steps_per_second: float, device_name: str) -> float | None:
    peak = peak_flops(device_name)
    return None if peak is None else flops_per_step * steps_per_second / peak


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
