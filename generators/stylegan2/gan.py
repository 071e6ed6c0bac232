"""Training one StyleGAN2 (B-SG, M-SG or C-SG) as a checkpointed, resumable stage.

The losses are StyleGAN2's: the non-saturating logistic loss, R1 on real images every
``r1_every`` steps and, when ``pl_weight`` > 0, path-length regularisation every ``pl_every``
steps ("lazy" regularisation, with Adam's learning rate and betas corrected for the interval).
The generator used for sampling is an exponential moving average of the trained one, with a
half-life of ``ema_kimg`` thousand images.

A GAN is described by its ``Kind``: what its generator outputs (image channels, mask channels,
or both) and whether it is conditioned on a mask. Mask channels are one-hot label maps; the
generator's raw mask outputs pass a softmax before the discriminator sees them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from bench.api.generator import FitContext
from bench.api.seeding import normal, normal_like
from generators.stylegan2.augment import Augment
from generators.stylegan2.networks import Discriminator, GeneratorNetwork
from generators.training import TrainingStage, run_stage, set_requires_grad


@dataclass(frozen=True)
class Kind:
    """What one GAN models: ``images`` and/or ``masks`` as output, or images given a mask."""

    name: str
    images: bool
    masks: bool
    conditional: bool = False


JOINT = Kind("b-sg", images=True, masks=True)
MASKS = Kind("m-sg", images=False, masks=True)
CONDITIONAL = Kind("c-sg", images=True, masks=False, conditional=True)


class Bookkeeping(torch.nn.Module):
    """Running values that must survive a resume: the path-length mean."""

    def __init__(self):
        super().__init__()
        self.register_buffer("pl_mean", torch.tensor(0.0))


def build(kind: Kind, image_channels: int, n_labels: int, p
          ) -> tuple[GeneratorNetwork, Discriminator]:
    out = (image_channels if kind.images else 0) + (n_labels if kind.masks else 0)
    cond = n_labels if kind.conditional else 0
    generator = GeneratorNetwork(p.resolution, out, p.z_dim, p.w_dim, p.mapping_layers,
                          p.channel_base, p.channel_max, mask_channels=cond)
    discriminator = Discriminator(p.resolution, out, p.channel_base, p.channel_max,
                                  mask_channels=cond, mbstd_group=p.mbstd_group)
    return generator, discriminator


def head(kind: Kind, raw: torch.Tensor, image_channels: int) -> torch.Tensor:
    """The generator's raw output as the discriminator sees it: mask channels as a softmax."""
    if not kind.masks:
        return raw
    k = image_channels if kind.images else 0
    return torch.cat([raw[:, :k], raw[:, k:].softmax(1)], 1)


def _adam(params, p, every: int) -> torch.optim.Adam:
    c = every / (every + 1) if every else 1.0  # lazy regularisation's correction
    return torch.optim.Adam(params, lr=p.lr * c, betas=(p.betas[0] ** c, p.betas[1] ** c),
                            eps=1e-8)


def train(kind: Kind, generator: GeneratorNetwork, discriminator: Discriminator,
          ema: GeneratorNetwork, images: torch.Tensor, masks: torch.Tensor, p, ctx: FitContext
          ) -> pd.DataFrame:
    """Train on ``images`` (N, C, R, R) in [-1, 1] and one-hot ``masks`` (N, K, R, R)."""
    device, n = ctx.device, len(masks)
    image_channels = images.shape[1] if kind.images else 0
    real_all = torch.cat(([images] if kind.images else []) + ([masks] if kind.masks else []), 1)
    augment = Augment(p.augment, image_channels, p.ada_target, p.ada_kimg).to(device)
    books = Bookkeeping().to(device)
    for net in (generator, discriminator, ema):
        net.to(device)
    opt_g = _adam(generator.parameters(), p, p.pl_every if p.pl_weight > 0 else 0)
    opt_d = _adam(discriminator.parameters(), p, p.r1_every)
    stage = TrainingStage(kind.name, p.steps,
                          {"generator": generator, "discriminator": discriminator, "ema": ema,
                           "augment": augment, "books": books},
                          {"generator": opt_g, "discriminator": opt_d},
                          checkpoint_every=p.checkpoint_every)

    def draw(rng: np.random.Generator, batch: int):
        idx = torch.from_numpy(rng.integers(0, n, batch))
        return real_all[idx].to(device), masks[idx].to(device)

    def fake(batch: int, cond: torch.Tensor | None, noise: torch.Generator) -> torch.Tensor:
        z = normal((batch, p.z_dim), noise)
        mixing = p.style_mixing
        return head(kind, generator(z, cond, mixing=mixing), image_channels)

    def judge(x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The discriminator's logits on augmented x; image and mask move together."""
        if cond is None:
            return discriminator(augment(x))
        both = augment(torch.cat([x, cond], 1))
        return discriminator(both[:, :x.shape[1]], both[:, x.shape[1]:])

    def step(i: int, rng: np.random.Generator, noise: torch.Generator) -> dict[str, float]:
        losses = {}
        # discriminator: real pairs against generated ones (C-SG: for other real masks)
        set_requires_grad(generator, False)
        set_requires_grad(discriminator, True)
        real, real_mask = draw(rng, p.batch)
        _, fake_mask = draw(rng, p.batch)
        cond_real = real_mask if kind.conditional else None
        cond_fake = fake_mask if kind.conditional else None
        with torch.no_grad():
            generated = fake(p.batch, cond_fake, noise)
        real_logits = judge(real, cond_real)
        loss_d = F.softplus(judge(generated, cond_fake)).mean() + F.softplus(-real_logits).mean()
        augment.observe(real_logits)
        losses["d"], losses["d_real"] = loss_d.item(), real_logits.mean().item()
        if p.r1_every and i % p.r1_every == 0:
            real = real.detach().requires_grad_(True)
            grad, = torch.autograd.grad(judge(real, cond_real).sum(), real, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            loss_d = loss_d + r1 * (p.r1_gamma / 2) * p.r1_every
            losses["r1"] = r1.item()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        # generator
        set_requires_grad(generator, True)
        set_requires_grad(discriminator, False)
        _, g_mask = draw(rng, p.batch)
        cond = g_mask if kind.conditional else None
        loss_g = F.softplus(-judge(fake(p.batch, cond, noise), cond)).mean()
        losses["g"] = loss_g.item()
        if p.pl_weight > 0 and i % p.pl_every == 0:
            pl = _path_length_penalty(generator, books, p, cond, noise)
            loss_g = loss_g + pl * p.pl_weight * p.pl_every
            losses["pl"] = pl.item()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        _update_ema(ema, generator, p, images_seen=(i + 1) * p.batch)
        losses["augment_p"] = float(augment.p)
        return losses

    curve = run_stage(stage, step, ctx)
    for net in (generator, discriminator, ema):
        net.cpu().eval()
    return curve


def _path_length_penalty(generator: GeneratorNetwork, books: Bookkeeping, p, cond,
                         noise: torch.Generator) -> torch.Tensor:
    """Deviation of |J^T y| from its running mean: a fixed step in w should change the image
    by a fixed amount (StyleGAN2, section 3.2); on a batch shrunk by ``pl_batch_shrink``."""
    batch = max(1, p.batch // p.pl_batch_shrink)
    ws = generator.ws(normal((batch, p.z_dim), noise), mixing=p.style_mixing)
    out = generator.synthesis(ws, None if cond is None else cond[:batch])
    direction = normal_like(out, noise) / math.sqrt(out.shape[2] * out.shape[3])
    grad, = torch.autograd.grad((out * direction).sum(), ws, create_graph=True)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()
    books.pl_mean.copy_(books.pl_mean.lerp(lengths.mean().detach(), p.pl_decay))
    return (lengths - books.pl_mean).pow(2).mean()


@torch.no_grad()
def _update_ema(ema: GeneratorNetwork, generator: GeneratorNetwork, p, images_seen: int) -> None:
    half_life = p.ema_kimg * 1000
    if p.ema_rampup is not None:
        half_life = min(half_life, images_seen * p.ema_rampup)
    beta = 0.5 ** (p.batch / max(half_life, 1e-8))
    for e, g in zip(ema.parameters(), generator.parameters(), strict=True):
        e.copy_(g.lerp(e, beta))
    for e, g in zip(ema.buffers(), generator.buffers(), strict=True):
        e.copy_(g)


def new_ema(generator: GeneratorNetwork) -> GeneratorNetwork:
    ema = copy.deepcopy(generator).eval()
    set_requires_grad(ema, False)
    return ema
