"""The MFU arithmetic of `make bench-gpu`: peaks by device name and counted FLOPs."""

import torch

from bench.benchmarks.mfu import count_flops, mfu, peak_flops


def test_device_peaks_are_looked_up_by_the_most_specific_name():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989.4e12
    assert peak_flops("NVIDIA H100 PCIe") == 756.5e12
    assert peak_flops("NVIDIA H200") == 989.4e12
    assert peak_flops("NVIDIA L40S") == 362.1e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Tesla V100-SXM2-16GB") is None, "no bf16 peak: no MFU rather than a guess"


def test_counted_flops_of_a_matrix_product_forward_and_backward():
    a = torch.randn(8, 16, requires_grad=True)
    b = torch.randn(16, 4, requires_grad=True)
    flops = count_flops(lambda: (a @ b).sum().backward())
    assert flops == 3 * 2 * 8 * 16 * 4  # forward, and one product per gradient


def test_mfu_is_achieved_flops_over_the_peak():
    assert mfu(1e12, 100.0, "NVIDIA H100 80GB HBM3") == 1e14 / 989.4e12
    assert mfu(1e12, 100.0, "cpu") is None
