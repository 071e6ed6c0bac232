"""The training loop shared by the MONAI segmenters.

Step-based: each step draws a batch with a generator seeded by (seed, step), so an interrupted
run that resumes from ``last.pt`` continues exactly as if it had never stopped, augmentation
included. DiceCE loss and Adam as in the papers; bf16 autocast on CUDA; periodic validation keeps
the best weights in ``best.pt`` and, with ``patience``, stops training once that many validations
in a row have not improved on the best (a plateau; ``steps`` stays the cap), so a segmenter fed
more or different data is not merely trained for a different share of its convergence. Batches
come from ``segmenters.batches`` (on the device or on the host, the same draws either way).
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

from bench.api.checkpoints import load_checkpoint
from bench.api.errors import TrainingDiverged
from segmenters.batches import DeviceBatches, host_batch, item_array


@dataclass
class Loop:
    steps: int
    batch: int
    lr: float
    val_every: int
    checkpoint_every: int
    patch: tuple[int, ...]
    data: str = "device"  # "device": batches drawn where the net trains; "host": MONAI on the CPU
    bf16: bool = True  # autocast on CUDA
    channels_last: bool = False
    compile: bool = False
    patience: int = 0  # validations without improvement before stopping; 0: train to ``steps``


@dataclass(frozen=True)
class Trained:
    """Where a stage's training left its weights and why it stopped there: a cell stopped by the
    cap while it still improved is compared before its plateau, which a reader must see."""

    best: Path
    steps: int
    stopped: str  # "plateau": ``patience`` validations without gain; "cap": ``steps`` ran out
    stale: int  # validations in a row without a better score when training stopped
    best_score: float | None  # the best validation Dice; None without validation data

    def record(self, stage: str, cap: int, patience: int) -> dict:
        """JSON for the model's info (``training``) and the results store."""
        return {"stage": stage, "steps": self.steps, "cap": cap, "patience": patience,
                "stopped": self.stopped, "stale": self.stale, "best_val_dice": self.best_score}


def train_network(net: torch.nn.Module, items: list[dict], weights: np.ndarray | None,
                  val: list[dict], loop: Loop, workdir: Path, device: str, seed: int,
                  augment: Callable | None, init: Path | None, n_classes: int) -> Trained:
    """Train ``net`` on ``items`` ({"image": (C, *s), "label": (1, *s)}); returns where the best
    weights are and why training stopped.

    ``weights`` are per-item sampling probabilities (mixing real and synthetic by a ratio).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    last, best = workdir / "last.pt", workdir / "best.pt"
    net.to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=loop.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    step, best_score, stale = 0, -np.inf, 0
    finite = torch.ones((), dtype=torch.bool, device=device)  # checked where weights are kept
    if last.exists():
        state = load_checkpoint(last, device)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        step, best_score = state["step"], state["best_score"]
        stale = state.get("stale", 0)
    elif init is not None:
        net.load_state_dict(load_checkpoint(init, device))
    model, layout = _fast(net, loop)
    draw = _drawer(items, weights, loop, seed, device, augment)
    cuda = device.startswith("cuda")
    while step < loop.steps and not (loop.patience and stale >= loop.patience):
        net.train()
        image, label = draw(step)
        image = image.to(device).contiguous(memory_format=layout)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda and loop.bf16):
            loss = loss_fn(model(image), label.to(device))
        finite &= torch.isfinite(loss.detach())  # no host sync per step
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        if val and (step % loop.val_every == 0 or step == loop.steps):
            _check_finite(finite, step, workdir)
            score = validate(net, val, loop.patch, device, n_classes)
            stale = 0 if score > best_score else stale + 1
            if score > best_score:
                best_score = score
                _save(net.state_dict(), best)
        plateau = bool(loop.patience) and stale >= loop.patience
        if step % loop.checkpoint_every == 0 or step == loop.steps or plateau:
            _check_finite(finite, step, workdir)
            _save({"net": net.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                   "best_score": float(best_score), "stale": stale}, last)
    if not best.exists():  # no validation data, or no steps: the last weights are the result
        _save(net.state_dict(), best)
    plateau = bool(loop.patience) and stale >= loop.patience
    return Trained(best, step, "plateau" if plateau else "cap", stale,
                   float(best_score) if np.isfinite(best_score) else None)


def _check_finite(finite: torch.Tensor, step: int, workdir: Path) -> None:
    """Stop before weights trained on a NaN or infinite loss are kept or scored (they would
    give Dice 0 everywhere and look like a finished result)."""
    if not bool(finite):
        raise TrainingDiverged(
            f"training diverged: non-finite loss (NaN or infinity) by step {step} of "
            f"{workdir.name}; check the images' intensities and the learning rate")


def _drawer(items, weights, loop: Loop, seed: int, device: str, augment):
    """The step -> batch function of ``loop.data``; ``augment`` suits it (see monai_models)."""
    if loop.data == "device":
        return DeviceBatches(items, weights, loop.batch, loop.patch, seed, device, augment).draw
    return lambda step: host_batch(items, weights, loop.batch, loop.patch, seed, step, augment)


def _fast(net: torch.nn.Module, loop: Loop):
    """The module to call and the batches' memory layout: channels-last and ``torch.compile``
    change speed, not the weights (``net`` keeps its parameters and state-dict keys)."""
    layout = torch.contiguous_format
    if loop.channels_last:
        layout = torch.channels_last if len(loop.patch) == 2 else torch.channels_last_3d
        net.to(memory_format=layout)
    return (torch.compile(net) if loop.compile else net), layout


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
        image = torch.stack([torch.as_tensor(item_array(v["image"])) for v in chunk]).float()
        label = torch.stack([torch.as_tensor(item_array(v["label"])) for v in chunk]).long()
        pred = infer(net, image, patch, device).argmax(1, keepdim=True)
        metric(torch.nn.functional.one_hot(pred[:, 0], n_classes).movedim(-1, 1),
               torch.nn.functional.one_hot(label[:, 0], n_classes).movedim(-1, 1))
    score = metric.aggregate().item()
    return score if np.isfinite(score) else 0.0


def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
