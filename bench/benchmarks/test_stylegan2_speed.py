"""StyleGAN2 family: training steps/s and sampling throughput: `make bench`.

Networks of the ``demo`` preset at 64x64 (``STYLEGAN2_PRESET=paper`` for the paper's 256x256 on
a GPU) on random data: speed does not depend on the data or the weights. One training step is
a discriminator and a generator update at the preset's batch size, with the lazy R1 (and path
length) terms at their intervals. Ratios are measured in the same run: C-SG's step against
B-SG's (the price of the mask condition), and MC-SG's sampling (M-SG then C-SG) against B-SG's.
"""

import os
import time

import pytest
import torch

from bench.api.generator import FitContext
from generators.stylegan2 import gan
from generators.stylegan2.model import PRESETS, StyleGAN2Params, one_hot

PRESET = os.environ.get("STYLEGAN2_PRESET", "demo")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
STEPS = int(os.environ.get("STYLEGAN2_BENCH_STEPS", "16"))  # a multiple of r1_every
CHANNELS, LABELS = 2, 4
RESULTS: dict[str, float] = {}


def params(**extra) -> StyleGAN2Params:
    return StyleGAN2Params(**{**PRESETS[PRESET], "kimg": None, "checkpoint_every": 10 ** 6,
                              **extra})


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def data(p: StyleGAN2Params, n: int = 256):
    images = torch.rand(n, CHANNELS, p.resolution, p.resolution) * 2 - 1
    masks = one_hot(torch.randint(0, LABELS, (n, p.resolution, p.resolution)), LABELS)
    return images, masks


@pytest.mark.parametrize("kind", [gan.JOINT, gan.CONDITIONAL], ids=lambda k: k.name)
def test_training_steps_per_second(benchmark, tmp_path, kind):
    torch.manual_seed(0)
    images, masks = data(params())

    def run(steps: int, folder: str) -> float:
        p = params(steps=steps)
        g, d = gan.build(kind, CHANNELS, LABELS, p)
        started = time.perf_counter()
        gan.train(kind, g, d, gan.new_ema(g), images, masks, p,
                  FitContext(workdir=tmp_path / folder, device=DEVICE))
        _sync()
        return steps / (time.perf_counter() - started)

    run(2, "warm")
    rate = benchmark.pedantic(run, args=(STEPS, "timed"), rounds=1, iterations=1)
    RESULTS[kind.name] = rate
    benchmark.extra_info.update({"steps_per_s": rate, "device": DEVICE, "preset": PRESET})
    print(f"\n{PRESET} {kind.name} training on {DEVICE}: {rate:.2f} steps/s "
          f"(batch {params().batch}, {params().resolution}px)")
    if kind is gan.CONDITIONAL:  # parametrised after JOINT
        print(f"C-SG / B-SG step time: {RESULTS['b-sg'] / rate:.2f}")


@pytest.mark.parametrize("kinds", [(gan.JOINT,), (gan.MASKS, gan.CONDITIONAL)],
                         ids=["b-sg", "mc-sg"])
def test_sampling_throughput(benchmark, kinds):
    torch.manual_seed(0)
    p = params()
    n = 256 if DEVICE == "cuda" else 64
    nets = [gan.build(k, CHANNELS, LABELS, p)[0].to(DEVICE).eval() for k in kinds]

    @torch.no_grad()
    def draw() -> float:
        started = time.perf_counter()
        for start in range(0, n, p.sample_batch):
            b = min(p.sample_batch, n - start)
            out, mask = None, None
            for kind, net in zip(kinds, nets, strict=True):
                out = net(torch.randn(b, p.z_dim, device=DEVICE), mask)
                if kind is gan.MASKS:
                    mask = one_hot(out.argmax(1), LABELS)
        _sync()
        return n / (time.perf_counter() - started)

    draw()
    rate = benchmark.pedantic(draw, rounds=3, iterations=1)
    name = "+".join(k.name for k in kinds)
    RESULTS[f"sample {name}"] = rate
    benchmark.extra_info.update({"images_per_s": rate, "device": DEVICE, "preset": PRESET})
    print(f"\n{PRESET} {name} sampling on {DEVICE}: {rate:.1f} samples/s")
    if len(kinds) == 2:
        print(f"MC-SG / B-SG sampling time: {RESULTS['sample b-sg'] / rate:.2f}")
