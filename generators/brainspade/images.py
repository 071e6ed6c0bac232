"""brainSPADE's image generator: SPADE (a VAE-GAN with a style encoder) on partial-volume maps.

Losses of Park et al.: hinge adversarial with a multi-scale patch discriminator that sees image and
semantic map, feature matching, perceptual and KL. The paper's three changes:

1. a modality/dataset loss: a classifier pre-trained on the real images (stage ``classifier``)
   must recognise the generated image's modality and dataset, with weights that grow over
   training (Appendix A: 0.1 -> 2.5 for modality, 0.05 -> 0.75 for dataset);
2. a contrastive loss: the style codes of an image and of a randomly affine-transformed copy
   must point the same way (one minus their cosine similarity);
3. style and content from different slices of the same volume, so the style code cannot carry
   the content.

The classifier also regresses each slice's label fractions: its features then describe anatomy
even when the data has one modality and one site, which makes them usable as the in-domain
perceptual loss when LPIPS weights are missing (see :mod:`generators.perceptual`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from monai.networks.blocks import Convolution
from monai.networks.nets import MultiScalePatchDiscriminator, SPADENet
from monai.transforms import RandAffine
from torch import nn

from bench.api.generator import FitContext
from generators.perceptual import feature_distance, lpips_loss
from generators.slicebank import SliceBank
from generators.training import TrainingStage, ramp, run_stage, set_requires_grad


class StyleClassifier(nn.Module):
    """The paper's D_mod-dat: modality and dataset of a one-channel slice, and label fractions."""

    def __init__(self, channels: tuple[int, ...], modalities: int, sites: int, labels: int):
        super().__init__()
        blocks, previous = [], 1
        for c in channels:
            blocks.append(Convolution(2, previous, c, strides=2, kernel_size=3, norm="BATCH",
                                      act=("leakyrelu", {"negative_slope": 0.2})))
            previous = c
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleDict({"modality": nn.Linear(previous, modalities),
                                    "site": nn.Linear(previous, sites),
                                    "fractions": nn.Linear(previous, labels)})

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.features(x)[-1].mean((2, 3))
        return {name: head(pooled) for name, head in self.heads.items()}


def classifier_losses(out: dict[str, torch.Tensor], modality: torch.Tensor, site: torch.Tensor,
                      fractions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Cross-entropy per head that has more than one class; L1 on label fractions."""
    losses = {}
    for name, target in (("modality", modality), ("site", site)):
        if out[name].shape[1] > 1:
            losses[name] = F.cross_entropy(out[name], target)
    if fractions is not None:
        losses["fractions"] = F.l1_loss(torch.softmax(out["fractions"], 1), fractions)
    return losses


def build_spade(n_labels: int, p) -> SPADENet:
    return SPADENet(spatial_dims=2, in_channels=1, out_channels=1, label_nc=n_labels,
                    input_shape=tuple(p.size), channels=list(p.spade_channels), z_dim=p.z_dim,
                    is_vae=True, spade_intermediate_channels=p.spade_hidden, norm=p.spade_norm,
                    last_act=None)


def build_classifier(bank: SliceBank, p) -> StyleClassifier:
    return StyleClassifier(tuple(p.classifier_channels), len(bank.channels), len(bank.sites),
                           len(bank.labels))


def _single_channel_batch(bank: SliceBank, rng: np.random.Generator, batch: int):
    idx = rng.integers(0, len(bank), batch)
    modality = rng.integers(0, len(bank.channels), batch)
    images = bank.images[idx, modality][:, None]
    return idx, modality, images


def train_classifier(net: StyleClassifier, bank: SliceBank, p, ctx: FitContext):
    """Stage 'classifier': pre-train D_mod-dat on real slices, each channel as its own image."""
    device = ctx.device
    net.to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=p.classifier_lr)
    fractions = bank.pv.mean((2, 3))

    def step(i: int, rng: np.random.Generator, noise: torch.Generator) -> dict[str, float]:
        idx, modality, images = _single_channel_batch(bank, rng, p.classifier_batch)
        out = net(images.to(device))
        losses = classifier_losses(out, torch.as_tensor(modality, device=device),
                                   torch.as_tensor(bank.site[idx], device=device),
                                   fractions[idx].to(device))
        optimiser.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optimiser.step()
        return {k: v.item() for k, v in losses.items()}

    stage = TrainingStage("classifier", p.classifier_steps, {"classifier": net}, {"opt": optimiser},
                  checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


def _affine(transform: RandAffine, images: torch.Tensor,
            rng: np.random.Generator) -> torch.Tensor:
    """A random affine copy of each image: the contrastive loss's T, seeded from ``rng``."""
    out = []
    for image in images:
        transform.set_random_state(seed=int(rng.integers(0, 2**31)))
        out.append(torch.as_tensor(transform(image)))
    return torch.stack(out)


def train_spade(spade: SPADENet, classifier: StyleClassifier, bank: SliceBank, p, ctx: FitContext,
                perceptual: str):
    """Stage 'spade': the image generator with the paper's losses and weights."""
    device = ctx.device
    n_labels = bank.pv.shape[1]
    disc = MultiScalePatchDiscriminator(
        num_d=p.disc_scales, num_layers_d=p.disc_layers, spatial_dims=2,
        channels=p.disc_channels, in_channels=1 + n_labels, out_channels=1, norm="INSTANCE",
        minimum_size_im=min(p.size)).to(device)
    spade.to(device)
    classifier.to(device).eval()
    set_requires_grad(classifier, False)
    lpips = lpips_loss(perceptual, device)
    adversarial = PatchAdversarialLoss(criterion="hinge")
    opt_g = torch.optim.Adam(spade.parameters(), lr=p.spade_lr, betas=tuple(p.spade_betas))
    opt_d = torch.optim.Adam(disc.parameters(), lr=p.spade_lr, betas=tuple(p.spade_betas))
    gamma = p.spade_lr_final ** (1.0 / max(p.spade_steps, 1))
    schedulers = {k: torch.optim.lr_scheduler.ExponentialLR(o, gamma)
                  for k, o in (("g", opt_g), ("d", opt_d))}
    affine = RandAffine(prob=1.0, rotate_range=0.2, scale_range=0.1, translate_range=4,
                        padding_mode="zeros")

    def step(i: int, rng: np.random.Generator, noise: torch.Generator) -> dict[str, float]:
        idx, modality, target = _single_channel_batch(bank, rng, p.spade_batch)
        partner = bank.style_partners(idx, rng)
        content = bank.pv[idx].to(device)
        target = target.to(device)
        style = bank.images[partner, modality][:, None].to(device)
        fake, mu, logvar = spade(content, style)

        set_requires_grad(disc, True)
        d_fake, _ = disc(torch.cat([fake.detach(), content], 1))
        d_real, _ = disc(torch.cat([target, content], 1))
        d_loss = adversarial(d_fake, False, True) + adversarial(d_real, True, True)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        set_requires_grad(disc, False)
        g_out, g_features = disc(torch.cat([fake, content], 1))
        with torch.no_grad():
            _, r_features = disc(torch.cat([target, content], 1))
        terms = {
            "adv": adversarial(g_out, True, False),
            "fm": spade_feature_matching(g_features, r_features),
            "kld": spade_kl(mu, logvar),
        }
        if lpips is not None:
            terms["perceptual"] = lpips(fake, target)
        elif perceptual == "in-domain":
            terms["perceptual"] = feature_distance(classifier.features, fake, target)
        mu_t, _ = spade.encoder(_affine(affine, style.cpu(), rng).to(device))
        terms["contrastive"] = 1.0 - F.cosine_similarity(mu, mu_t, dim=1).mean()
        judged = classifier_losses(classifier(fake), torch.as_tensor(modality, device=device),
                                   torch.as_tensor(bank.site[idx], device=device))
        terms |= judged
        if p.w_l1:
            terms["l1"] = F.l1_loss(fake, target)
        weights = {"adv": p.w_adv, "fm": p.w_fm, "kld": p.w_kld, "perceptual": p.w_perceptual,
                   "contrastive": p.w_contrastive, "l1": p.w_l1,
                   "modality": ramp(*p.w_modality, i, p.spade_steps),
                   "site": ramp(*p.w_site, i, p.spade_steps)}
        g_loss = sum(weights[k] * v for k, v in terms.items())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"d": d_loss.item(), **{k: v.item() for k, v in terms.items()}}

    stage = TrainingStage("spade", p.spade_steps, {"spade": spade, "disc": disc},
                  {"g": opt_g, "d": opt_d}, schedulers, checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


def spade_feature_matching(fake: list[list[torch.Tensor]],
                           real: list[list[torch.Tensor]]) -> torch.Tensor:
    """Feature matching as SPADE's reference code reduces it, the balance that brainSPADE's
    Appendix A weights were tuned for: the L1 of each intermediate discriminator layer, summed
    over layers and divided by the number of discriminators (NVlabs/SPADE,
    ``models/pix2pix_model.py``, ``compute_generator_loss``)."""
    terms = [F.l1_loss(f, r.detach()) for fs, rs in zip(fake, real, strict=True)
             for f, r in zip(fs, rs, strict=True)]
    return torch.stack(terms).sum() / len(fake)


def spade_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions *and* the batch, as
    SPADE's ``KLDLoss`` (NVlabs/SPADE, ``models/networks/loss.py``)."""
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar)


@torch.no_grad()
def synthesise(spade: SPADENet, pv: torch.Tensor, style: torch.Tensor, device: str,
               batch: int = 32) -> torch.Tensor:
    """Images (N, 1, H, W) for maps ``pv`` in the style of ``style`` (N, 1, H, W).

    The style code is the encoder's mean, so a style image always gives the same style.
    """
    spade.eval().to(device)
    out = []
    for start in range(0, len(pv), batch):
        z, _ = spade.encoder(style[start:start + batch].to(device))
        image = spade.decode(pv[start:start + batch].to(device), z)
        out.append(image.cpu())  # unclipped: the data's minimum is 0 here, not a bound
    return torch.cat(out)
