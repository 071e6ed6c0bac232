"""Training-loop throughput against a bare PyTorch loop: `make bench`.

Same network (the unet2d `demo` preset), batch, slices and number of steps; the harness loop adds
seeded batch drawing, checkpoints and the resume bookkeeping. Both run in the same process,
alternating, and the figure to report is the ratio of their slices per second (target >= 0.95).
"""

import time

import numpy as np
import torch
from monai.losses import DiceCELoss

from bench.api.presets import from_preset
from bench.data.phantom import PhantomConfig, make_phantom
from segmenters.monai_models import UNet2D
from segmenters.training import Loop, train_network

# One checkpoint interval of the demo preset, so checkpoint writes count at their real rate.
STEPS, ROUNDS = UNet2D.presets["demo"]["val_every"], 3


def _setup():
    seg = from_preset(UNet2D, "demo")
    items = seg._items(make_phantom(PhantomConfig(subjects=2, seed=0)), train=True)
    torch.manual_seed(0)
    return seg, items, seg.params


def _harness(seg, items, p, workdir) -> float:
    net = seg.build(1, 4)
    loop = Loop(STEPS, p.batch, p.lr, val_every=10**9, checkpoint_every=p.checkpoint_every,
                patch=p.patch)
    start = time.perf_counter()
    train_network(net, items, None, [], loop, workdir, "cpu", 0, None, None, 4)
    return STEPS * p.batch / (time.perf_counter() - start)


def _bare(seg, items, p) -> float:
    net = seg.build(1, 4)
    optimiser = torch.optim.Adam(net.parameters(), lr=p.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    images = torch.stack([torch.as_tensor(i["image"]) for i in items])
    labels = torch.stack([torch.as_tensor(i["label"]) for i in items]).long()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    net.train()
    for _ in range(STEPS):
        pick = torch.as_tensor(rng.choice(len(items), p.batch))
        loss = loss_fn(net(images[pick]), labels[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    torch.save(net.state_dict(), "/dev/null")  # the harness writes its result once too
    return STEPS * p.batch / (time.perf_counter() - start)


def test_training_loop_throughput_vs_bare_pytorch(benchmark, tmp_path):
    seg, items, p = _setup()
    harness, bare = [], []

    def both():
        bare.append(_bare(seg, items, p))
        harness.append(_harness(seg, items, p, tmp_path / f"run{len(harness)}"))

    benchmark.pedantic(both, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    ratio = float(np.median(harness) / np.median(bare))
    benchmark.extra_info.update(harness_slices_per_s=float(np.median(harness)),
                                bare_slices_per_s=float(np.median(bare)), ratio=ratio)
    print(f"\nharness {np.median(harness):.1f} slices/s, bare {np.median(bare):.1f} slices/s, "
          f"ratio {ratio:.3f}")
    assert ratio >= 0.95
