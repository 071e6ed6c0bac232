"""Perceptual losses without downloads: LPIPS when its backbone is cached, else a stated substitute.

MONAI's ``PerceptualLoss`` (LPIPS on AlexNet, VGG16 or SqueezeNet) needs torchvision ImageNet
weights that these machines cannot fetch. ``auto`` uses SqueezeNet when its weights are in the
torch hub cache and otherwise the generator's in-domain substitute (brainSPADE: features of a
network trained on the real data in the same fit). A backbone asked for by name that is missing
is a configuration error naming the file to provide; nothing is ever downloaded. The choice made
is recorded in the fitted generator's metadata.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.api.errors import ConfigError
from generators.training import feature_matching

# torchvision's ImageNet weights, as torch hub caches them
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
CHOICES = ("auto", *BACKBONE_FILES, "in-domain", "off")


def backbone_path(network: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[network]


def resolve(choice: str, prefer: tuple[str, ...] = ("squeeze", "alex", "vgg")) -> tuple[str, str]:
    """``(kind, description)``: kind is a backbone name, ``in-domain`` or ``off``.

    ``auto`` takes the first backbone of ``prefer`` whose weights are cached.
    """
    if choice not in CHOICES:
        raise ConfigError(f"perceptual: unknown choice '{choice}' (known: {', '.join(CHOICES)})")
    if choice == "auto":
        for network in prefer:
            if backbone_path(network).exists():
                return network, f"LPIPS ({network}, ImageNet weights from the torch hub cache)"
        # named, not spelled out: this note is saved with the fit, and published fits must
        # not carry the path of the machine that made them
        return "in-domain", "in-domain substitute: no LPIPS weights in $TORCH_HOME/hub/checkpoints"
    if choice in BACKBONE_FILES:
        path = backbone_path(choice)
        if not path.exists():
            raise ConfigError(f"perceptual '{choice}': weights {path} are missing; copy that file "
                              "there (from a machine with internet) or use perceptual=in-domain")
        return choice, f"LPIPS ({choice}, ImageNet weights from the torch hub cache)"
    return choice, {"in-domain": "in-domain substitute (chosen)", "off": "off"}[choice]


class LPIPSPerChannel(nn.Module):
    """LPIPS applied to every channel as a grey image, averaged: works for any channel count."""

    def __init__(self, network: str):
        super().__init__()
        from monai.losses import PerceptualLoss

        self.loss = PerceptualLoss(spatial_dims=2, network_type=network)
        for p in self.loss.parameters():
            p.requires_grad_(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        b, c, h, w = fake.shape
        return self.loss(fake.reshape(b * c, 1, h, w), real.reshape(b * c, 1, h, w))


def lpips_loss(kind: str, device: str) -> LPIPSPerChannel | None:
    """The LPIPS module for a backbone ``kind`` from :func:`resolve`; None for the others."""
    return None if kind in ("in-domain", "off") else LPIPSPerChannel(kind).to(device)


def feature_distance(features: nn.Module | None, fake: torch.Tensor,
                     real: torch.Tensor) -> torch.Tensor:
    """L1 between a frozen network's intermediate features (``features(x)`` returns a list)."""
    return feature_matching([features(fake)], [features(real)])
