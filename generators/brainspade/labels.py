"""brainSPADE's label generator: a spatial VAE over partial-volume maps and a latent diffusion.

The VAE (MONAI ``AutoencoderKL``, two downsamplings, 3 latent channels) is trained with KL + L1 +
perceptual + patch-adversarial losses; its decoder's output goes through a softmax so decoded maps
are partial-volume maps that sum to one. The LDM (``DiffusionModelUNet``, 1000 steps, predicting
the added noise with an L1 loss) learns the VAE's latents. Instead of the paper's two LDMs (healthy
and tumour), one LDM is conditioned on lesion presence: a constant channel concatenated to its
input (MONAI's ``concat`` conditioning), so one network serves any lesion fraction at sampling.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import DiffusionInferer
from monai.losses import DiceLoss, PatchAdversarialLoss
from monai.networks.nets import AutoencoderKL, DiffusionModelUNet, PatchDiscriminator
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

from bench.api.generator import FitContext
from bench.api.seeding import normal, normal_like, timesteps
from generators.perceptual import lpips_loss
from generators.slicebank import SliceBank
from generators.training import (
    TrainingStage,
    feature_matching,
    kl_normal,
    run_stage,
    set_requires_grad,
)

# The LDM noise schedule of MONAI's latent diffusion tutorials (Rombach et al.'s scaled linear).
SCHEDULE = {"schedule": "scaled_linear_beta", "beta_start": 0.0015, "beta_end": 0.0195,
            "clip_sample": False}  # latents are not bounded to [-1, 1]


def build_vae(n_labels: int, p) -> AutoencoderKL:
    return AutoencoderKL(spatial_dims=2, in_channels=n_labels, out_channels=n_labels,
                         channels=tuple(p.vae_channels), latent_channels=p.latent_channels,
                         num_res_blocks=p.vae_res_blocks, norm_num_groups=p.norm_groups,
                         attention_levels=(False,) * len(p.vae_channels),
                         with_encoder_nonlocal_attn=False, with_decoder_nonlocal_attn=False)


def build_ldm(p, conditioned: bool) -> DiffusionModelUNet:
    return DiffusionModelUNet(spatial_dims=2, in_channels=p.latent_channels + int(conditioned),
                              out_channels=p.latent_channels, channels=tuple(p.ldm_channels),
                              attention_levels=tuple(p.ldm_attention),
                              num_res_blocks=p.ldm_res_blocks,
                              num_head_channels=p.ldm_head_channels,
                              norm_num_groups=p.norm_groups)


def scheduler(kind: str, steps: int, train_steps: int):
    cls = DDIMScheduler if kind == "ddim" else DDPMScheduler
    sched = cls(num_train_timesteps=train_steps, **SCHEDULE)
    sched.set_timesteps(steps)
    return sched


def decode_pv(logits: torch.Tensor) -> torch.Tensor:
    """Decoder outputs to partial-volume maps: non-negative and summing to one per pixel."""
    return torch.softmax(logits, dim=1)


def reconstruction_losses(recon: torch.Tensor, target: torch.Tensor, dice_weight: float,
                          lesions: list[int]):
    """(L1, Dice) between reconstructed and true partial-volume maps; Dice over the ``lesions``
    channels, 0 when there are none or it is unweighted.

    L1 weighs pixels, so a class on 0.7% of them (a tumour) costs almost nothing to drop, and a
    short fit dropped it. Dice over the whole batch weighs a class by its overlap, not its area.
    Over tissue classes it did harm: it made the decoder confident where CSF is a partial
    fraction (CSF's argmax share of the phantom's maps 8.0%, of the reconstructions 13.1%).
    Not in the paper, whose loss is L1 alone (``vae_dice = 0``).
    """
    l1 = F.l1_loss(recon, target)
    if not dice_weight or not lesions:
        return l1, torch.zeros((), device=recon.device)
    return l1, DiceLoss(include_background=True, batch=True)(recon[:, lesions],
                                                             target[:, lesions])


def train_vae(vae: AutoencoderKL, bank: SliceBank, p, ctx: FitContext, perceptual: str,
              lesions: list[int]):
    """Stage 'vae'. ``perceptual``: a backbone name, or 'in-domain' for discriminator features;
    ``lesions``: the channels the Dice term covers."""
    device = ctx.device
    disc = PatchDiscriminator(spatial_dims=2, num_layers_d=p.vae_disc_layers,
                              channels=p.vae_disc_channels, in_channels=vae.encoder.in_channels,
                              out_channels=1).to(device)
    vae.to(device)
    lpips = lpips_loss(perceptual, device)
    adversarial = PatchAdversarialLoss(criterion="least_squares")
    opt_g = torch.optim.Adam(vae.parameters(), lr=p.vae_lr, betas=tuple(p.vae_betas))
    opt_d = torch.optim.Adam(disc.parameters(), lr=p.vae_lr, betas=tuple(p.vae_betas))

    def step(i: int, rng: np.random.Generator, noise: torch.Generator) -> dict[str, float]:
        x = bank.pv[rng.integers(0, len(bank), p.vae_batch)].to(device)
        logits, mu, sigma = vae(x)
        recon = decode_pv(logits)
        l1, overlap = reconstruction_losses(recon, x, p.vae_dice, lesions)
        kl = kl_normal(mu, 2.0 * torch.log(sigma + 1e-6))  # AutoencoderKL gives the std
        adversarial_on = i >= p.vae_adv_start
        set_requires_grad(disc, False)
        fake_out = disc(recon)
        if lpips is not None:
            perc = lpips(recon, x)
        elif perceptual == "in-domain":
            perc = feature_matching([fake_out[:-1]], [disc(x)[:-1]])
        else:
            perc = torch.zeros((), device=device)
        adv_g = adversarial(fake_out[-1], target_is_real=True, for_discriminator=False)
        loss = (l1 + p.vae_dice * overlap + p.vae_kl * kl + p.vae_perceptual * perc
                + (p.vae_adv * adv_g if adversarial_on else 0.0))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        losses = {"l1": l1.item(), "dice": overlap.item(), "kl": kl.item(),
                  "perceptual": perc.item()}
        if adversarial_on:
            set_requires_grad(disc, True)
            d_loss = 0.5 * (adversarial(disc(recon.detach())[-1], False, True)
                            + adversarial(disc(x)[-1], True, True))
            opt_d.zero_grad(set_to_none=True)
            (p.vae_adv * d_loss).backward()
            opt_d.step()
            losses |= {"adv_g": adv_g.item(), "adv_d": d_loss.item()}
        return losses

    stage = TrainingStage("vae", p.vae_steps, {"vae": vae, "disc": disc},
                  {"g": opt_g, "d": opt_d}, checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, bank: SliceBank, device: str, batch: int = 64):
    """Posterior means and standard deviations of every training slice's latent."""
    vae.eval().to(device)
    mus, sigmas = [], []
    for start in range(0, len(bank), batch):
        mu, sigma = vae.encode(bank.pv[start:start + batch].to(device))
        mus.append(mu.cpu())
        sigmas.append(sigma.cpu())
    return torch.cat(mus), torch.cat(sigmas)


def latent_scale(mu: torch.Tensor, sigma: torch.Tensor, noise: torch.Generator) -> float:
    """Rombach et al.'s scale factor: one over the standard deviation of the latents."""
    z = mu + sigma * normal(mu.shape, noise).to(mu.device)
    return float(1.0 / z.std())


def lesion_condition(flags: torch.Tensor, shape) -> torch.Tensor:
    """The conditioning channel: 1 everywhere for a slice with a lesion, 0 otherwise."""
    return flags.float().view(-1, 1, 1, 1).expand(-1, 1, *shape)


def _mode(conditioned: bool) -> str:
    """MONAI's inferers need 'concat' with a condition; without one, no mode adds anything."""
    return "concat" if conditioned else "crossattn"


def draw_weights(lesion: np.ndarray, fraction: float | None) -> np.ndarray | None:
    """Sampling weights that make lesion slices ``fraction`` of the drawn batches."""
    if fraction is None or lesion.all() or not lesion.any():
        return None
    w = np.where(lesion, fraction / lesion.sum(), (1.0 - fraction) / (~lesion).sum())
    return w / w.sum()


def train_ldm(ldm: DiffusionModelUNet, latents: tuple[torch.Tensor, torch.Tensor], scale: float,
              bank: SliceBank, conditioned: bool, p, ctx: FitContext):
    """Stage 'ldm': predict the noise added to scaled VAE latents, with an L1 loss."""
    device = ctx.device
    ldm.to(device)
    mu, sigma = latents
    sched = DDPMScheduler(num_train_timesteps=p.train_timesteps, **SCHEDULE)
    inferer = DiffusionInferer(sched)
    optimiser = torch.optim.Adam(ldm.parameters(), lr=p.ldm_lr, betas=tuple(p.ldm_betas))
    weights = draw_weights(bank.lesion, p.lesion_fraction) if conditioned else None

    def step(i: int, rng: np.random.Generator, draws: torch.Generator) -> dict[str, float]:
        idx = rng.choice(len(bank), p.ldm_batch, p=weights)
        z = (mu[idx].to(device) + sigma[idx].to(device) * normal(sigma[idx].shape, draws)) * scale
        noise = normal_like(z, draws)
        t = timesteps(len(idx), p.train_timesteps, draws)
        condition = None
        if conditioned:
            condition = lesion_condition(torch.from_numpy(bank.lesion[idx]), z.shape[2:]).to(device)
        prediction = inferer(inputs=z, diffusion_model=ldm, noise=noise, timesteps=t,
                             condition=condition, mode=_mode(conditioned))
        loss = F.l1_loss(prediction.float(), noise.float())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"l1": loss.item()}

    stage = TrainingStage("ldm", p.ldm_steps, {"ldm": ldm}, {"opt": optimiser},
                  checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


@torch.no_grad()
def sample_labels(vae: AutoencoderKL, ldm: DiffusionModelUNet, scale: float, flags: torch.Tensor,
                  size: tuple[int, int], p, conditioned: bool, device: str,
                  noise: torch.Generator, sampler: str | None = None,
                  steps: int | None = None) -> torch.Tensor:
    """Partial-volume maps (N, K, H, W) for ``flags`` (N,) lesion presence, in batches.

    Every random draw (the initial latents, DDPM's per-step noise) comes from ``noise``, a
    generator on ``device``.
    """
    vae.eval().to(device)
    ldm.eval().to(device)
    sched = scheduler(sampler or p.sampler, steps or p.sample_steps, p.train_timesteps)
    shape = tuple(s // 4 for s in size)
    out = []
    for start in range(0, len(flags), p.sample_batch):
        chunk = flags[start:start + p.sample_batch]
        z = normal((len(chunk), p.latent_channels, *shape), noise)
        condition = lesion_condition(chunk, shape).to(device) if conditioned else None
        for t in sched.timesteps:
            x = z if condition is None else torch.cat([z, condition], 1)
            eps = ldm(x, timesteps=torch.full((len(z),), int(t), device=device))
            z, _ = sched.step(eps, t, z, generator=noise)
        logits = vae.decode_stage_2_outputs(z / scale)
        out.append(decode_pv(logits.float()).cpu())
    return torch.cat(out)

