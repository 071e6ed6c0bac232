"""MedGen3D's semantic diffusion refiner (Section 3.2).

One mask-conditioned diffusion model per view (MONAI's ``SPADEDiffusionModelUNet``: the mask
enters every block through SPADE normalisation), trained as a DDPM on the real slices of that
view. Refining a generated volume noises each slice of a view to step ``refine_steps`` (the
paper: 10 of 1000), denoises it back with that view's model and the slice's mask, and
averages the three refined volumes.

Views are the grid's axes: 0 is the sequence axis (the dataset's slicing axis: axial on the
phantom), 1 and 2 the two others (coronal and sagittal there).
"""

from __future__ import annotations

import numpy as np
import torch
from monai.networks.nets import SPADEDiffusionModelUNet
from monai.networks.schedulers import DDPMScheduler

from bench.api.generator import FitContext
from bench.api.seeding import normal_like, timesteps
from generators.medgen3d.data import VolumeBank, one_hot
from generators.medgen3d.masks import schedule
from generators.training import TrainingStage, run_stage

VIEWS = (0, 1, 2)


def build(n_labels: int, channels: int, p) -> SPADEDiffusionModelUNet:
    return SPADEDiffusionModelUNet(
        spatial_dims=2, in_channels=channels, out_channels=channels, label_nc=n_labels,
        channels=tuple(p.refiner_channels), attention_levels=tuple(p.refiner_attention),
        num_res_blocks=p.refiner_res_blocks, norm_num_groups=p.norm_groups,
        num_head_channels=p.refiner_head_channels,
        spade_intermediate_channels=p.refiner_spade_channels)


def slices(volumes: torch.Tensor, view: int) -> torch.Tensor:
    """(N, C, D, H, W) → (N * L, C, h, w): every slice along grid axis ``view``."""
    moved = volumes.movedim(2 + view, 1)
    return moved.flatten(0, 1)


def assemble(flat: torch.Tensor, count: int, view: int) -> torch.Tensor:
    """The inverse of :func:`slices`."""
    return flat.unflatten(0, (count, -1)).movedim(1, 2 + view)


def train_refiner(net: SPADEDiffusionModelUNet, view: int, bank: VolumeBank, p,
                  ctx: FitContext):
    """Stage 'refiner<view>': a DDPM on random real slices of one view, given their masks."""
    device = ctx.device
    net.to(device)
    scheduler = DDPMScheduler(**schedule(p.train_timesteps))
    optimiser = torch.optim.Adam(net.parameters(), lr=p.refiner_lr)
    n = len(bank.labels)
    length = bank.labels.shape[1 + view]

    def step(i: int, rng: np.random.Generator, draws: torch.Generator) -> dict[str, float]:
        picks = rng.integers(0, n, p.refiner_batch)
        index = rng.integers(0, length, p.refiner_batch)
        x0 = torch.stack([bank.images[k].select(1 + view, j) for k, j in zip(picks, index,
                                                                              strict=True)])
        labels = torch.stack([bank.labels[k].select(view, j) for k, j in zip(picks, index,
                                                                             strict=True)])
        x0, seg = x0.to(device), one_hot(labels.to(device), bank.n_labels)
        noise = normal_like(x0, draws)
        t = timesteps(len(x0), p.train_timesteps, draws)
        loss = torch.nn.functional.mse_loss(net(scheduler.add_noise(x0, noise, t), t, seg),
                                            noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"mse": loss.item()}

    stage = TrainingStage(f"refiner{view}", p.refiner_steps, {"net": net}, {"opt": optimiser},
                  checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


@torch.no_grad()
def refine(nets: list[SPADEDiffusionModelUNet], images: torch.Tensor, labels: torch.Tensor,
           n_labels: int, p, device: str, bounds: tuple[float, float],
           noise: torch.Generator) -> torch.Tensor:
    """The mean over views of each view's refinement of (N, C, D, H, W) images.

    Samples are kept within ``bounds``, the range of the real training images in the working
    units (about [-1, 1], wider where real intensities lie beyond the 99th percentile: never a
    range that would clip real data). Every random draw comes from ``noise``, on ``device``.
    """
    scheduler = DDPMScheduler(**schedule(p.train_timesteps))
    steps = min(p.refine_steps, p.train_timesteps)
    masks = one_hot(labels, n_labels)  # (N, K, D, H, W)
    refined = torch.zeros_like(images)
    for view, net in zip(VIEWS, nets, strict=True):
        net.eval().to(device)
        x_all, seg_all = slices(images, view), slices(masks, view)
        out = []
        for start in range(0, len(x_all), p.sample_batch):
            x0 = x_all[start:start + p.sample_batch].to(device)
            seg = seg_all[start:start + p.sample_batch].to(device)
            t0 = torch.full((len(x0),), steps - 1, device=device, dtype=torch.long)
            x = scheduler.add_noise(x0, normal_like(x0, noise), t0)
            for t in range(steps - 1, -1, -1):
                eps = net(x, torch.full((len(x),), t, device=device), seg)
                x = scheduler.step(eps, t, x, generator=noise)[0]
            out.append(x.clamp(*bounds).cpu())
        refined += assemble(torch.cat(out), len(images), view)
    return refined / len(VIEWS)
