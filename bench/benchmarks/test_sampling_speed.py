"""brainSPADE sampling throughput, DDPM with 1000 steps against DDIM with 50: `make bench`.

Networks of the ``demo`` preset (``BRAINSPADE_PRESET=paper`` for the paper's, on a GPU), with
their initial weights: throughput does not depend on the weights. Labels (LDM + VAE decoder) and
images (SPADE) are timed apart; the figures to report are slices per second and the DDIM-50 /
DDPM-1000 ratio, both measured in the same run.
"""

import os
import time

import pytest
import torch

from bench.api.seeding import torch_generator
from generators.brainspade import images as img
from generators.brainspade import labels as lab
from generators.brainspade.model import PRESETS, BrainSPADEParams

PRESET = os.environ.get("BRAINSPADE_PRESET", "demo")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
N = int(os.environ.get("BRAINSPADE_BENCH_N", "64" if DEVICE == "cuda" else "16"))
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    p = BrainSPADEParams(**{**PRESETS[PRESET], "sample_batch": N})
    return p, lab.build_vae(4, p).to(DEVICE), lab.build_ldm(p, False).to(DEVICE), \
        img.build_spade(4, p).to(DEVICE)


def _labels(nets, sampler, steps):
    p, vae, ldm, _ = nets
    started = time.perf_counter()
    pv = lab.sample_labels(vae, ldm, 1.0, torch.zeros(N), tuple(p.size), p, False, DEVICE,
                           torch_generator(0, DEVICE), sampler, steps)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return pv, N / (time.perf_counter() - started)


@pytest.mark.parametrize("sampler, steps", [("ddpm", 1000), ("ddim", 50)])
def test_label_sampling_throughput(benchmark, nets, sampler, steps):
    _labels(nets, sampler, 2)  # warm-up
    _, rate = benchmark.pedantic(_labels, args=(nets, sampler, steps), rounds=1, iterations=1)
    RESULTS[sampler] = rate
    benchmark.extra_info.update({"slices_per_s": rate, "device": DEVICE, "preset": PRESET})
    print(f"\n{PRESET} {sampler}-{steps} on {DEVICE}: {rate:.2f} label slices/s")
    if sampler == "ddim" and "ddpm" in RESULTS:  # parametrised in this order
        ratio = rate / RESULTS["ddpm"]
        print(f"DDIM-50 / DDPM-1000 throughput ratio: {ratio:.1f}")
        assert ratio > 5, "50 denoising steps must be much faster than 1000"


def test_image_synthesis_throughput(benchmark, nets):
    p, _, _, spade = nets
    pv = torch.softmax(torch.randn(N, 4, *p.size), 1)
    style = torch.rand(N, 1, *p.size)

    def paint():
        started = time.perf_counter()
        img.synthesise(spade, pv, style, DEVICE)
        return N / (time.perf_counter() - started)

    paint()
    rate = benchmark.pedantic(paint, rounds=3, iterations=1)
    benchmark.extra_info.update({"slices_per_s": rate, "device": DEVICE, "preset": PRESET})
    print(f"\n{PRESET} SPADE on {DEVICE}: {rate:.1f} images/s")
