"""Step-based training stages with checkpoints, resume and training curves, for every generator.

A generator's fit is a sequence of stages (brainSPADE: classifier, VAE, LDM, SPADE). Each step
draws from generators seeded from (seed, stage, step): a NumPy generator for batches, a torch
generator for noise, and torch's global RNG, seeded for the step and restored after it, for what
reads only that (dropout and reparameterisation inside MONAI networks). So a stage that resumes
from its checkpoint draws the same batches and noise as if it had never stopped: an interrupted
fit ends with the weights an uninterrupted one would have had. The curve (losses per step) is
kept in the checkpoint and written beside it as CSV, so a user can see whether training converged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench.api.checkpoints import load_checkpoint, plain
from bench.api.generator import FitContext
from bench.api.seeding import seeded_global_rng, torch_generator

# step_fn(step, rng, noise): one optimisation step, its batches drawn with ``rng`` and its noise
# with ``noise`` (a generator on the fit's device); returns its losses as floats
StepFn = Callable[[int, np.random.Generator, torch.Generator], dict[str, float]]


@dataclass
class TrainingStage:
    """One training stage: its modules and optimisers are saved and restored together."""

    name: str
    steps: int
    modules: dict[str, nn.Module]
    optimisers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = field(default_factory=dict)
    checkpoint_every: int = 100


def step_seed(seed: int, stage: str, step: int) -> int:
    """A 63-bit seed for one step of one stage, independent of every other step."""
    digest = hashlib.sha256(f"{seed}/{stage}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def run_stage(stage: TrainingStage, step_fn: StepFn, ctx: FitContext) -> pd.DataFrame:
    """Run ``step_fn`` from the last checkpoint to ``stage.steps``; returns the curve.

    A finished stage is only loaded, never retrained.
    """
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    path = ctx.workdir / f"{stage.name}.pt"
    start, curve = 0, []
    if path.exists():
        state = load_checkpoint(path, ctx.device)
        for name, module in stage.modules.items():
            module.load_state_dict(state["modules"][name])
        for group, kind in ((stage.optimisers, "optimisers"), (stage.schedulers, "schedulers")):
            for name, obj in group.items():
                obj.load_state_dict(state[kind][name])
        start, curve = state["step"], state["curve"]
        if start < stage.steps:
            ctx.log.info("%s: resuming at step %d of %d", stage.name, start, stage.steps)
    for module in stage.modules.values():
        module.train()
    for step in range(start, stage.steps):
        seed = step_seed(ctx.seed, stage.name, step)
        noise = torch_generator(step_seed(ctx.seed, f"{stage.name}/noise", step), ctx.device)
        with seeded_global_rng(seed, ctx.device):
            losses = step_fn(step, np.random.default_rng(seed), noise)
        for scheduler in stage.schedulers.values():
            scheduler.step()
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"{stage.name}: loss {', '.join(bad)} is not finite at "
                                     f"step {step + 1}; lower the learning rate")
        curve.append({"step": step + 1, **losses})
        done = step + 1
        if done % stage.checkpoint_every == 0 or done == stage.steps:
            _save(path, stage, done, curve)
        if ctx.progress is not None:
            ctx.progress(done, stage.steps, {"stage": stage.name, **losses})
    for module in stage.modules.values():
        module.eval()
    frame = pd.DataFrame(curve)
    if len(frame):
        frame.to_csv(ctx.workdir / f"{stage.name}_curve.csv", index=False)
    return frame


def _save(path: Path, stage: TrainingStage, step: int, curve: list[dict]) -> None:
    state = {
        "step": step,
        "curve": plain(curve),
        "modules": {k: m.state_dict() for k, m in stage.modules.items()},
        "optimisers": {k: o.state_dict() for k, o in stage.optimisers.items()},
        "schedulers": {k: s.state_dict() for k, s in stage.schedulers.items()},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a crash while saving leaves the previous checkpoint intact


def ramp(start: float, end: float, step: int, steps: int) -> float:
    """Linear schedule from ``start`` to ``end`` over ``steps`` (brainSPADE's mod/dat weights)."""
    return start + (end - start) * min(step / max(steps - 1, 1), 1.0)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions, mean over the batch."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.flatten(1).sum(1).mean()


def feature_matching(fake: list[list[torch.Tensor]],
                     real: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD's feature matching: L1 between discriminator features, averaged over layers."""
    terms = [torch.nn.functional.l1_loss(f, r.detach())
             for fs, rs in zip(fake, real, strict=True) for f, r in zip(fs, rs, strict=True)]
    return torch.stack(terms).mean()


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)
