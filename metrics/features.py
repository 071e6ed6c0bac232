"""Feature extractors for the distribution metrics, and where their weights come from.

Every extractor takes images as a float tensor (N, C, H, W) scaled to [0, 1] and returns (N, D)
features. Two kinds:

- :class:`InceptionFeatures`: the standard FID/KID features (Inception v3 pool3, 2048-d), in
  torch-fidelity's port that torchmetrics and the FID literature use: uint8 input, bilinear
  resize to 299 x 299 the TensorFlow way. A medical channel is a grey image, replicated to RGB;
  ``per_channel`` tells the caller to measure channels one at a time.
- :class:`EncoderFeatures`: the *in-domain* features, which need no downloaded weights: the
  globally averaged bottleneck of a segmentation network trained on the real data of the same
  run. Its distances are not comparable with Inception FIDs or across runs.

Weights are only ever read from disk (a folder the user names, then the torch hub cache); a
missing file raises :class:`Unavailable` with the file's name and where to put it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's, as torchmetrics


class Unavailable(Exception):
    """A metric cannot be computed here; the message says why and what to do, in one line."""


def weight_dirs(weights_dir: Path | str | None) -> list[Path]:
    dirs = [Path(weights_dir)] if weights_dir else []
    return [*dirs, Path(torch.hub.get_dir()) / "checkpoints"]


def find_weights(filename: str, weights_dir: Path | str | None, what: str) -> Path:
    """The first ``filename`` among :func:`weight_dirs`; never downloads."""
    dirs = weight_dirs(weights_dir)
    for folder in dirs:
        if (folder / filename).is_file():
            return folder / filename
    where = " or ".join(str(d) for d in dirs)
    raise Unavailable(f"{what} weights {filename} not found in {where}: copy the file there "
                      "from a machine with internet, or pass --weights-dir")


class InceptionFeatures:
    name = "inception"
    per_channel = True

    def __init__(self, weights: Path, device: str = "cpu"):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.device = device
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                               feature_extractor_weights_path=str(weights))
        self.net.to(device)

    @classmethod
    def find(cls, weights_dir: Path | str | None, device: str = "cpu") -> InceptionFeatures:
        return cls(find_weights(INCEPTION_FILE, weights_dir, "Inception (FID/KID)"), device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != 1:
            raise ValueError(f"Inception features take one grey channel, got {images.shape[1]}")
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
        return self.net(pixels.to(self.device))[0].cpu()


class EncoderFeatures:
    """The global average of a trained network's lowest-resolution activation (its bottleneck).

    The bottleneck is found by running the network once and keeping the last convolution output
    of the smallest spatial size, so any convolutional encoder-decoder works (MONAI's UNet,
    UNETR and Swin-UNETR included). Images are z-scored over their non-zero pixels as the
    segmenters normalise their input, and resized to the network's patch size.
    """

    name = "in-domain"
    per_channel = False

    def __init__(self, net: nn.Module, patch: tuple[int, ...], device: str = "cpu"):
        self.net, self.patch, self.device = net.to(device).eval(), tuple(patch), device
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
