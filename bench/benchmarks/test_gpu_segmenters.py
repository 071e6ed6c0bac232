"""Segmenter training on a GPU: images/s, MFU, harness against bare loop (`make bench-gpu`).

unet2d (256 x 256, batch 64), unet3d and swin_unetr (96^3 patches) at their ``paper`` presets.
In one run and on one device: the harness loop (``train_network``, data resident on the device,
bf16) against a bare PyTorch loop of the same network, batch and precision over the same
pre-stacked tensors; and the harness with the device augmentation on. Steady state: the rate is
``STEPS`` steps timed after ``WARMUP`` steps (the harness: the difference of two runs after a
throwaway one).
MFU: FLOPs of one forward + backward counted by ``FlopCounterMode``, over the bf16 peak of the
device (``mfu.PEAK_BF16_TFLOPS``).

Skipped without CUDA. ``SYNTH2SEG_BENCH_DEVICE=cpu SYNTH2SEG_BENCH_PRESET=tiny`` runs the same
code on the CPU at small sizes (the CPU figure of the harness/bare ratio).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from monai.losses import DiceCELoss

from bench.api.presets import from_preset
from bench.benchmarks.mfu import count_flops, mfu, synchronise
from segmenters.augment import BatchAugment
from segmenters.monai_models import SwinUNETRSegmenter, UNet2D, UNet3D
from segmenters.training import Loop, train_network

DEVICE = os.environ.get("SYNTH2SEG_BENCH_DEVICE", "cuda")
PRESET = os.environ.get("SYNTH2SEG_BENCH_PRESET", "paper")
STEPS = int(os.environ.get("SYNTH2SEG_BENCH_STEPS", "20"))
WARMUP = 3
CLASSES = 4
SEGMENTERS = {"unet2d": UNet2D, "unet3d": UNet3D, "swin_unetr": SwinUNETRSegmenter}

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA")]


def device_name() -> str:
    return torch.cuda.get_device_name(DEVICE) if DEVICE.startswith("cuda") else "cpu"


def _items(patch: tuple[int, ...], n: int) -> list[dict]:
    """Random images and labels: the speed does not depend on the data. Volumes are a little
    larger than the patch so that the harness crops as it does on real data."""
    rng = np.random.default_rng(0)
    shape = patch if len(patch) == 2 else tuple(s + 16 for s in patch)
    return [{"image": rng.normal(size=(1, *shape)).astype(np.float32),
             "label": rng.integers(0, CLASSES, size=(1, *shape)).astype(np.float32)}
            for _ in range(n)]


def _harness(seg, items, steps: int, workdir, augment: bool) -> float:
    p = seg.params
    torch.manual_seed(0)
    net = seg.build(1, CLASSES)
    loop = Loop(steps, p.batch, p.lr, 10**9, 10**9, p.patch, "device", True)
    started = time.perf_counter()
    train_network(net, items, None, [], loop, workdir, DEVICE, 0,
                  BatchAugment(len(p.patch)) if augment else None, None, CLASSES)
    synchronise(DEVICE)
    return time.perf_counter() - started


def _harness_rate(seg, items, tmp_path, augment: bool = False) -> float:
    name = "augmented" if augment else "plain"
    _harness(seg, items, WARMUP, tmp_path / f"{name}-warm", augment)  # one-off costs land here
    short = _harness(seg, items, WARMUP, tmp_path / f"{name}-short", augment)
    long = _harness(seg, items, WARMUP + STEPS, tmp_path / f"{name}-long", augment)
    return STEPS * seg.params.batch / max(long - short, 1e-9)


def _bare_loop(seg, items):
    """The same network, loss, optimiser and precision over pre-stacked device tensors."""
    p = seg.params
    torch.manual_seed(0)
    net = seg.build(1, CLASSES).to(DEVICE).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=p.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    window = tuple(slice(0, s) for s in p.patch)
    images = torch.stack([torch.as_tensor(i["image"])[(slice(None), *window)] for i in items])
    labels = torch.stack([torch.as_tensor(i["label"])[(slice(None), *window)] for i in items])
    images, labels = images.to(DEVICE), labels.long().to(DEVICE)
    generator = torch.Generator().manual_seed(0)
    cuda = DEVICE.startswith("cuda")

    def step():
        pick = torch.randint(len(items), (p.batch,), generator=generator).to(DEVICE)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_fn(net(images[pick]), labels[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def _bare_rate(step, batch: int) -> float:
    for _ in range(WARMUP):
        step()
    synchronise(DEVICE)
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    synchronise(DEVICE)
    return STEPS * batch / (time.perf_counter() - started)


@pytest.mark.parametrize("name", SEGMENTERS)
def test_segmenter_training_throughput_and_mfu(benchmark, tmp_path, name):
    seg = from_preset(SEGMENTERS[name], PRESET)
    p = seg.params
    items = _items(p.patch, 256 if len(p.patch) == 2 else 4)
    bare_step = _bare_loop(seg, items)
    flops = count_flops(bare_step)
    results = {}

    def measure():
        results["bare"] = _bare_rate(bare_step, p.batch)
        results["harness"] = _harness_rate(seg, items, tmp_path / str(len(results)))
        results["augmented"] = _harness_rate(seg, items, tmp_path / str(len(results)), True)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    ratio = results["harness"] / results["bare"]
    utilisation = mfu(flops, results["harness"] / p.batch, device_name())
    benchmark.extra_info.update({
        "device": device_name(), "preset": PRESET, "batch": p.batch, "patch": list(p.patch),
        "images_per_s_harness": results["harness"], "images_per_s_bare": results["bare"],
        "images_per_s_harness_augmented": results["augmented"], "harness_over_bare": ratio,
        "gflops_per_step": flops / 1e9, "mfu_harness": utilisation})
    shown = "n/a (device not in the peak table)" if utilisation is None else f"{utilisation:.1%}"
    print(f"\n{name} {PRESET} on {device_name()}: harness {results['harness']:.1f} images/s, "
          f"bare {results['bare']:.1f}, ratio {ratio:.3f}; augmented "
          f"{results['augmented']:.1f} images/s; {flops / 1e9:.3g} GFLOP/step, MFU {shown}")
