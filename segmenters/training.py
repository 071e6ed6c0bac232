"""The training loop shared by the MONAI segmenters.

Step-based: each step draws a batch with a generator seeded by (seed, step), so an interrupted
run that resumes from ``last.pt`` continues exactly as if it had never stopped, augmentation
included. DiceCE loss and Adam as in the papers; bf16 autocast on CUDA; periodic validation keeps
the best weights in ``best.pt``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import RandSpatialCropd, SpatialPadd

from bench.checkpoints import load_checkpoint


@dataclass
class Loop:
    steps: int
    batch: int
    lr: float
    val_every: int
    checkpoint_every: int
    patch: tuple[int, ...]


def train_network(net: torch.nn.Module, items: list[dict], weights: np.ndarray | None,
                  val: list[dict], loop: Loop, workdir: Path, device: str, seed: int,
                  augment: Callable | None, init: Path | None, n_classes: int) -> Path:
    """Train ``net`` on ``items`` ({"image": (C, *s), "label": (1, *s)}); returns best weights.

    ``weights`` are per-item sampling probabilities (mixing real and synthetic by a ratio).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    last, best = workdir / "last.pt", workdir / "best.pt"
    net.to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=loop.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    step, best_score = 0, -np.inf
    if last.exists():
        state = load_checkpoint(last, device)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        step, best_score = state["step"], state["best_score"]
    elif init is not None:
        net.load_state_dict(load_checkpoint(init, device))
    cuda = device.startswith("cuda")
    while step < loop.steps:
        net.train()
        image, label = _batch(items, weights, loop, seed, step, augment)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_fn(net(image.to(device)), label.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        if val and (step % loop.val_every == 0 or step == loop.steps):
            score = validate(net, val, loop.patch, device, n_classes)
            if score > best_score:
                best_score = score
                _save(net.state_dict(), best)
        if step % loop.checkpoint_every == 0 or step == loop.steps:
            _save({"net": net.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                   "best_score": float(best_score)}, last)
    if not best.exists():  # no validation data, or no steps: the last weights are the result
        _save(net.state_dict(), best)
    return best


def _batch(items, weights, loop: Loop, seed: int, step: int, augment):
    rng = np.random.default_rng([seed, step])
    picks = rng.choice(len(items), size=loop.batch, p=weights)
    if augment is not None:
        augment.set_random_state(seed=int(rng.integers(2**31)))
    crop = None
    if len(loop.patch) == 3:
        crop = [SpatialPadd(("image", "label"), loop.patch),
                RandSpatialCropd(("image", "label"), loop.patch, random_size=False)]
        crop[1].set_random_state(seed=int(rng.integers(2**31)))
    samples = []
    for i in picks:
        sample = {"image": torch.as_tensor(items[i]["image"]),
                  "label": torch.as_tensor(items[i]["label"])}
        for transform in crop or ():
            sample = transform(sample)
        if augment is not None:
            sample = augment(sample)
        samples.append(sample)
    image = torch.stack([torch.as_tensor(s["image"]).float() for s in samples])
    label = torch.stack([torch.as_tensor(s["label"]).round().long() for s in samples])
    return image.as_subclass(torch.Tensor), label.as_subclass(torch.Tensor)


@torch.no_grad()
def infer(net: torch.nn.Module, image: torch.Tensor, patch: tuple[int, ...], device: str):
    """Logits for a batch of 2D slices, or for whole volumes by sliding windows."""
    net.eval()
    cuda = device.startswith("cuda")
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
        if len(patch) == 3:
            out = sliding_window_inference(image.to(device), patch, 4, net, overlap=0.25)
        else:
            out = net(image.to(device))
    return torch.as_tensor(out).float().cpu()


def validate(net, val: list[dict], patch, device: str, n_classes: int) -> float:
    metric = DiceMetric(include_background=False, reduction="mean", ignore_empty=True)
    size = 16 if len(patch) == 2 else 1  # volumes may differ in shape
    for start in range(0, len(val), size):
        chunk = val[start:start + size]
        image = torch.stack([torch.as_tensor(v["image"]) for v in chunk]).float()
        label = torch.stack([torch.as_tensor(v["label"]) for v in chunk]).long()
        pred = infer(net, image, patch, device).argmax(1, keepdim=True)
        metric(torch.nn.functional.one_hot(pred[:, 0], n_classes).movedim(-1, 1),
               torch.nn.functional.one_hot(label[:, 0], n_classes).movedim(-1, 1))
    score = metric.aggregate().item()
    return score if np.isfinite(score) else 0.0


def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
