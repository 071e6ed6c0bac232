"""Differentiable discriminator augmentation for small datasets (DiffAugment / ADA).

A discriminator trained on a few hundred slices memorises them and training diverges. Zhao et
al. (DiffAugment) and Karras et al. (ADA) augment every image the discriminator sees, real and
generated alike, with transforms the generator's gradients pass through. ``diffaugment`` applies
each transform to every sample; ``ada`` applies each with probability p, and adapts p so that
the sign of the discriminator's output on real images, E[sign D(x)], stays near 0.6.

Geometric transforms (integer translation by up to 1/8 of the size, and cutout of a square of
half the size) move image and mask channels together; intensity transforms (brightness,
contrast) touch only image channels, so one-hot masks stay one-hot where they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("off", "diffaugment", "ada")


class Augment(nn.Module):
    """``x`` is (B, C, H, W) whose first ``image_channels`` channels are intensities.

    A module only so that p and the controller's running sums travel in checkpoints.
    """

    def __init__(self, mode: str, image_channels: int, target: float = 0.6,
                 speed_kimg: float = 100.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"augmentation '{mode}' not in {MODES}")
        self.mode, self.image_channels, self.target = mode, image_channels, target
        self.speed_kimg = speed_kimg  # ADA: images for p to go from 0 to 1 at full imbalance
        self.register_buffer("p", torch.tensor(1.0 if mode == "diffaugment" else 0.0))
        self.register_buffer("sign_sum", torch.tensor(0.0))
        self.register_buffer("sign_count", torch.tensor(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        if self.mode == "off" or p <= 0:
            return x
        b = x.shape[0]

        def chosen() -> torch.Tensor:
            return (torch.rand(b, 1, 1, 1, device=x.device) < p).float()

        k = self.image_channels
        if k:
            image, rest = x[:, :k], x[:, k:]
            brightness = (torch.rand(b, 1, 1, 1, device=x.device) - 0.5) * 0.5 * chosen()
            contrast = 1 + (torch.rand(b, 1, 1, 1, device=x.device) - 0.5) * chosen()
            mean = image.mean((1, 2, 3), keepdim=True)
            x = torch.cat([(image - mean) * contrast + mean + brightness, rest], 1)
        x = translate(x, chosen()[:, 0, 0, 0] > 0)
        return cutout(x, chosen()[:, 0, 0, 0] > 0)

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor, every: int = 4) -> None:
        """ADA's controller: every ``every`` batches, move p towards E[sign D(real)] = target,
        by (images seen) / (``speed_kimg`` x 1000)."""
        if self.mode != "ada":
            return
        self.sign_sum += torch.sign(real_logits).sum()
        self.sign_count += real_logits.numel()
        if self.sign_count >= every * real_logits.numel():
            rt = float(self.sign_sum / self.sign_count)
            step = float(self.sign_count) / (self.speed_kimg * 1000)
            self.p.copy_((self.p + step * (1 if rt > self.target else -1)).clamp(0, 1))
            self.sign_sum.zero_()
            self.sign_count.zero_()


def translate(x: torch.Tensor, which: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift the chosen samples by whole pixels; edges repeat (background stays background)."""
    b, _, h, w = x.shape
    limit = torch.tensor([w * ratio, h * ratio], device=x.device)
    shift = torch.round((torch.rand(b, 2, device=x.device) * 2 - 1) * limit) * which[:, None]
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shift[:, 0] / w
    theta[:, 1, 2] = -2 * shift[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


def cutout(x: torch.Tensor, which: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of ``ratio`` of the size in the chosen samples."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio), int(w * ratio)
    top = torch.randint(0, h - ch + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    keep = ~(inside & which[:, None, None])
    return x * keep[:, None].float()
