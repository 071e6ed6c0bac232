"""MedGen3D's image sequence generator, in the spirit of vid2vid (Wang et al. 2018).

Slices are generated one after the other along the sequence axis. Each new slice is

    x_t = w * warp(x_{t-1}, flow) + (1 - w) * h

a blend, by a predicted soft occlusion mask ``w``, of the previous *generated* slice warped by a
predicted flow and newly hallucinated content ``h``, all predicted by one network (MONAI's UNet)
from the current and previous mask slices and the previous slice. The first slice has nothing
to warp: ``w`` is 0 and it is hallucinated whole.

Losses of vid2vid: least-squares GAN losses of a multi-scale image discriminator (each slice
with its mask) and of a sequence discriminator (``seq_len`` consecutive slices with their masks,
a 3D patch discriminator), feature matching on both, and the flow losses. vid2vid supervises
the flow with FlowNet2 estimates between real frames; no such network is available here, so the
flow is learned from the warping loss alone, L1(w * (warp(real_{t-1}, flow) - real_t)), with a
smoothness term on the flow. An L1 term to the real slice stands in for vid2vid's VGG loss,
whose ImageNet weights these machines cannot download.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from monai.networks.blocks import Warp
from monai.networks.nets import MultiScalePatchDiscriminator, PatchDiscriminator, UNet
from torch import nn

from bench.api.generator import FitContext
from generators.medgen3d.data import VolumeBank, one_hot
from generators.training import TrainingStage, feature_matching, run_stage, set_requires_grad


class SequenceGenerator(nn.Module):
    def __init__(self, n_labels: int, channels: int, p):
        super().__init__()
        self.n_labels, self.channels = n_labels, channels
        widths = tuple(p.seq_channels)
        self.net = UNet(spatial_dims=2, in_channels=2 * n_labels + channels,
                        out_channels=3 + channels, channels=widths,
                        strides=(2,) * (len(widths) - 1), num_res_units=1, norm="INSTANCE")
        self.warp = Warp(mode="bilinear", padding_mode="border")

    def step(self, mask: torch.Tensor, previous_mask: torch.Tensor | None,
             previous: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One slice from its mask (B, K, H, W), the previous mask and the previous slice."""
        first = previous is None
        if first:
            b, _, h, w = mask.shape
            previous = mask.new_zeros(b, self.channels, h, w)
            previous_mask = torch.zeros_like(mask)
        out = self.net(torch.cat([mask, previous_mask, previous], 1))
        flow, weight = out[:, :2], torch.sigmoid(out[:, 2:3])
        hallucinated = torch.tanh(out[:, 3:])
        if first:
            weight = torch.zeros_like(weight)
        warped = self.warp(previous, flow)
        image = weight * warped + (1.0 - weight) * hallucinated
        return {"image": image, "flow": flow, "weight": weight, "hallucinated": hallucinated}

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        """Images (B, C, T, H, W) for one-hot mask sequences (B, K, T, H, W), slice by slice."""
        images, previous, previous_mask = [], None, None
        for t in range(masks.shape[2]):
            out = self.step(masks[:, :, t], previous_mask, previous)
            previous, previous_mask = out["image"], masks[:, :, t]
            images.append(previous)
        return torch.stack(images, 2)


def build_discriminators(n_labels: int, channels: int, p) -> tuple[nn.Module, nn.Module]:
    image = MultiScalePatchDiscriminator(
        num_d=p.disc_scales, num_layers_d=p.disc_layers, spatial_dims=2,
        channels=p.disc_channels, in_channels=channels + n_labels, out_channels=1,
        norm="INSTANCE", minimum_size_im=p.size)
    sequence = PatchDiscriminator(spatial_dims=3, num_layers_d=p.disc_layers,
                                  channels=p.disc_channels, in_channels=channels + n_labels,
                                  out_channels=1, kernel_size=3, norm="INSTANCE")
    return image, sequence


def _smoothness(flow: torch.Tensor) -> torch.Tensor:
    return (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean() + \
        (flow[..., 1:] - flow[..., :-1]).abs().mean()


def train_sequence(generator: SequenceGenerator, bank: VolumeBank, p, ctx: FitContext):
    """Stage 'sequence': runs of ``seq_len`` slices, each generated from the previous one."""
    device = ctx.device
    generator.to(device)
    d_image, d_sequence = (d.to(device) for d in build_discriminators(
        bank.n_labels, len(bank.channels), p))
    adversarial = PatchAdversarialLoss(criterion="least_squares")
    opt_g = torch.optim.Adam(generator.parameters(), lr=p.seq_lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_image.parameters(), *d_sequence.parameters()], lr=p.seq_lr,
                             betas=(0.5, 0.999))
    n, depth = bank.labels.shape[:2]
    T = p.seq_len

    def judge(images, masks, detach: bool):
        """Both discriminators on (B, C, T, H, W) images: (outputs, features) lists."""
        frames = torch.cat([images, masks], 1)
        if detach:
            frames = frames.detach()
        flat = frames.movedim(2, 1).flatten(0, 1)
        outs, features = d_image(flat)
        seq = d_sequence(frames)
        return [*outs, seq[-1]], [*features, seq[:-1]]

    def step(i: int, rng: np.random.Generator, noise: torch.Generator) -> dict[str, float]:
        picks = rng.integers(0, n, p.seq_batch)
        starts = rng.integers(0, depth - T + 1, p.seq_batch)
        real = torch.stack([bank.images[k, :, z:z + T] for k, z in zip(picks, starts,
                                                                        strict=True)]).to(device)
        labels = torch.stack([bank.labels[k, z:z + T] for k, z in zip(picks, starts,
                                                                       strict=True)])
        masks = one_hot(labels.to(device), bank.n_labels)  # (B, K, T, H, W)

        fakes, warp_terms, smooth_terms, previous = [], [], [], None
        for t in range(T):
            out = generator.step(masks[:, :, t], masks[:, :, t - 1] if t else None,
                                 previous.detach() if previous is not None else None)
            previous = out["image"]
            fakes.append(previous)
            if t:
                warped_real = generator.warp(real[:, :, t - 1], out["flow"])
                warp_terms.append((out["weight"] * (warped_real - real[:, :, t]).abs()).mean())
                smooth_terms.append(_smoothness(out["flow"]))
        fake = torch.stack(fakes, 2)

        set_requires_grad(d_image, True)
        set_requires_grad(d_sequence, True)
        fake_out, _ = judge(fake, masks, detach=True)
        real_out, _ = judge(real, masks, detach=True)
        d_loss = sum(adversarial(f, False, True) + adversarial(r, True, True)
                     for f, r in zip(fake_out, real_out, strict=True)) / len(fake_out)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        set_requires_grad(d_image, False)
        set_requires_grad(d_sequence, False)
        g_out, g_features = judge(fake, masks, detach=False)
        with torch.no_grad():
            _, r_features = judge(real, masks, detach=True)
        terms = {"adv": sum(adversarial(o, True, False) for o in g_out) / len(g_out),
                 "fm": feature_matching(g_features, r_features),
                 "l1": F.l1_loss(fake, real)}
        if warp_terms:
            terms["warp"] = torch.stack(warp_terms).mean()
            terms["smooth"] = torch.stack(smooth_terms).mean()
        weights = {"adv": 1.0, "fm": p.w_fm, "l1": p.w_l1, "warp": p.w_warp,
                   "smooth": p.w_smooth}
        g_loss = sum(weights[k] * v for k, v in terms.items())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"d": d_loss.item(), **{k: v.item() for k, v in terms.items()}}

    stage = TrainingStage("sequence", p.seq_steps,
                  {"generator": generator, "d_image": d_image, "d_sequence": d_sequence},
                  {"g": opt_g, "d": opt_d}, checkpoint_every=p.checkpoint_every)
    return run_stage(stage, step, ctx)


@torch.no_grad()
def paint(generator: SequenceGenerator, labels: torch.Tensor, n_labels: int, device: str,
          batch: int) -> torch.Tensor:
    """Images (N, C, D, H, W) in [-1, 1] for label volumes (N, D, H, W)."""
    generator.eval().to(device)
    out = []
    for start in range(0, len(labels), batch):
        masks = one_hot(labels[start:start + batch].to(device), n_labels)
        out.append(generator(masks).cpu())
    return torch.cat(out)
