"""Feature extractors for the distribution metrics, each with the protocol it must be reported with.

Every extractor takes images as a float tensor (N, C, *spatial) scaled to [0, 1] and returns
(N, D) features, and says what a reader needs to reproduce its numbers: ``label`` (network and
layer), ``sha256`` (of the weights used), ``preprocessing`` and ``spatial_dims`` (2: slices, 3:
volumes). ``per_channel`` extractors see one grey channel at a time.

- :class:`InceptionFeatures`: the standard FID/KID features (Inception v3 pool3, 2048-d) in
  torch-fidelity's port that torchmetrics and the FID literature use.
- :class:`RadImageNetFeatures`: ResNet-50 trained on RadImageNet (Mei et al. 2022), globally
  pooled 2048-d, the 2D medical convention (MONAI's generative tutorials; MAISI's 2.5D FID).
- :class:`MedicalNetFeatures`: MedicalNet's 3D ResNet-10 (Chen et al. 2019), globally pooled
  512-d, the 3D medical convention.
- :class:`EncoderFeatures`: the *in-domain* features, which need no downloaded weights: the
  globally averaged bottleneck of a segmentation network trained on the real data of the same
  run. Its distances are not comparable with Inception FIDs or across runs.

Weights come from :mod:`metrics.weights` (found on disk, else fetched and verified, unless
offline); a missing file raises :class:`Unavailable` with the file's name and what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metrics.weights import WEIGHTS, Unavailable, WeightFile, ensure

INCEPTION_FILE = WEIGHTS["inception"].filename  # torch-fidelity's, as torchmetrics
SCALING = "per channel [min, 99.5th percentile] -> [0, 1]"

__all__ = ["INCEPTION_FILE", "EncoderFeatures", "InceptionFeatures", "MedicalNetFeatures",
           "RadImageNetFeatures", "Unavailable", "extract"]


class InceptionFeatures:
    name = "inception"
    label = "Inception v3 pool3 2048-d (torch-fidelity port)"
    per_channel, spatial_dims = True, 2
    preprocessing = (f"{SCALING}; uint8; grey replicated to RGB; bilinear resize to 299x299 "
                     "the TensorFlow way")

    def __init__(self, weights: Path, device: str = "cpu", sha256: str | None = None):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.device, self.sha256 = device, sha256
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                               feature_extractor_weights_path=str(weights))
        self.net.to(device)

    @classmethod
    def find(cls, weights_dir: Path | str | None, device: str = "cpu", offline: bool = False,
             weight: WeightFile | None = None) -> InceptionFeatures:
        path, digest = ensure(weight or WEIGHTS["inception"], weights_dir, offline)
        return cls(path, device, digest)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _grey(images, "Inception")
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
        return self.net(pixels.to(self.device))[0].cpu()


class _FetchedStateDict:
    """Extractors built from a state dict that :mod:`metrics.weights` fetches and verifies
    under the extractor's ``name``."""

    name: str

    @classmethod
    def find(cls, weights_dir: Path | str | None, device: str = "cpu", offline: bool = False,
             weight: WeightFile | None = None):
        path, digest = ensure(weight or WEIGHTS[cls.name], weights_dir, offline)
        return cls(torch.load(path, map_location="cpu", weights_only=True), device, digest)


class RadImageNetFeatures(_FetchedStateDict):
    """RadImageNet's official PyTorch ResNet-50 (torchvision layout, saved as ``backbone.*``).

    Input as in RadImageNet's own example: [0, 1] mapped to [-1, 1], 224 x 224, three equal
    channels (so RGB or BGR order does not matter for grey images).
    """

    name = "radimagenet"
    label = "RadImageNet ResNet-50 layer4, global average 2048-d"
    per_channel, spatial_dims = True, 2
    size = 224
    preprocessing = (f"{SCALING}; x -> 2x - 1; grey replicated to 3 channels; bilinear resize "
                     "to 224x224")

    def __init__(self, state: dict, device: str = "cpu", sha256: str | None = None):
        from torchvision.models import resnet50

        trunk = nn.Sequential(*list(resnet50(weights=None).children())[:-2])
        trunk.load_state_dict({k.removeprefix("backbone."): v for k, v in state.items()},
                              strict=True)
        self.net, self.device, self.sha256 = trunk.to(device).eval(), device, sha256

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _grey(images, "RadImageNet")
        x = (2 * images.float().clamp(0, 1) - 1).repeat(1, 3, 1, 1)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x.to(self.device)).mean((2, 3)).cpu()


class MedicalNetFeatures(_FetchedStateDict):
    """MedicalNet ResNet-10 on whole volumes, z-scored per volume as MONAI's tutorials do."""

    name = "medicalnet"
    label = "MedicalNet 3D ResNet-10 (23 datasets) layer4, global average 512-d"
    per_channel, spatial_dims = True, 3
    preprocessing = (f"{SCALING}; z-score over the whole volume; the real data's grid, no "
                     "resize")

    def __init__(self, checkpoint: dict, device: str = "cpu", sha256: str | None = None):
        from metrics.medicalnet import load_medicalnet

        self.net, self.device, self.sha256 = load_medicalnet(checkpoint).to(device), device, sha256

    @torch.no_grad()
    def __call__(self, volumes: torch.Tensor) -> torch.Tensor:
        _grey(volumes, "MedicalNet")
        x = volumes.float()
        dims = tuple(range(1, x.ndim))
        x = (x - x.mean(dims, keepdim=True)) / (x.std(dims, keepdim=True) + 1e-6)
        return self.net(x.to(self.device)).flatten(2).mean(2).cpu()


def _grey(images: torch.Tensor, what: str) -> None:
    if images.shape[1] != 1:
        raise ValueError(f"{what} features take one grey channel, got {images.shape[1]}")


class EncoderFeatures:
    """The global average of a trained network's lowest-resolution activation (its bottleneck).

    The bottleneck is found by running the network once and keeping the last convolution output
    of the smallest spatial size, so any convolutional encoder-decoder works (MONAI's UNet,
    UNETR and Swin-UNETR included). Images are z-scored over their non-zero pixels as the
    segmenters normalise their input, and resized to the network's patch size.
    """

    name = "in-domain"
    per_channel = False
    preprocessing = (f"{SCALING}; z-score over non-background pixels; resize to the segmenter's "
                     "patch")

    def __init__(self, net: nn.Module, patch: tuple[int, ...], device: str = "cpu",
                 label: str = "segmentation network"):
        self.net, self.patch, self.device = net.to(device).eval(), tuple(patch), device
        self.spatial_dims = len(self.patch)
        self.label = f"bottleneck of the real-only {label}, global average"
        self.sha256 = state_sha256(net)
        self._convs = [m for m in net.modules()
                       if isinstance(m, nn.Conv2d | nn.Conv3d)]
        if not self._convs:
            raise ValueError("the network has no convolution to take features from")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = _zscore(images.float())
        if tuple(x.shape[2:]) != self.patch:
            mode = "bilinear" if x.ndim == 4 else "trilinear"
            x = F.interpolate(x, size=self.patch, mode=mode, align_corners=False)
        outputs: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
                 for m in self._convs]
        try:
            self.net(x.to(self.device))
        finally:
            for hook in hooks:
                hook.remove()
        smallest = min(o[0, 0].numel() for o in outputs)
        bottleneck = [o for o in outputs if o[0, 0].numel() == smallest][-1]
        return bottleneck.flatten(2).mean(2).cpu()


def state_sha256(net: nn.Module) -> str:
    """A hash of a network's parameters and buffers, names included, to identify a trained model."""
    digest = hashlib.sha256()
    for name, value in net.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _zscore(x: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(2, x.ndim))
    inside = (x > x.amin(dim=dims, keepdim=True)).float()
    count = inside.sum(dims, keepdim=True).clamp_min(1)
    mean = (x * inside).sum(dims, keepdim=True) / count
    sd = (((x - mean) ** 2 * inside).sum(dims, keepdim=True) / count).sqrt()
    return (x - mean) / (sd + 1e-6)


def extract(extractor, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, D) features of (N, C, *spatial) images in [0, 1], in batches."""
    out = [extractor(torch.as_tensor(images[i:i + batch], dtype=torch.float32))
           for i in range(0, len(images), batch)]
    return torch.cat(out).double().numpy()
