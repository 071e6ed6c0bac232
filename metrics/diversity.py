"""Diversity of a set of images: mean pairwise LPIPS and mean pairwise MS-SSIM over random pairs.

A generator that collapses to a few outputs has low LPIPS and high MS-SSIM between its samples;
the same numbers on real images say what "diverse enough" is for the data. Pairs are drawn from
different *groups* (cases) when groups are given, so that two slices of one volume never count.
Images are (N, 1, H, W) in [0, 1]; callers measure multi-channel images channel by channel.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from metrics.weights import WEIGHTS, WeightFile, ensure

ALEXNET_FILE = WEIGHTS["alexnet"].filename  # torchvision's ImageNet AlexNet, LPIPS' default trunk
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003
MS_SSIM_KERNEL = 11


def random_pairs(n: int, count: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Up to ``count`` distinct index pairs (i < j), from different groups when given."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, k=1)
    if groups is not None:
        groups = np.asarray(groups)
        keep = groups[i] != groups[j]
        i, j = i[keep], j[keep]
    if len(i) == 0:
        raise ValueError(f"no pair of images to compare among {n}"
                         + (" from different cases" if groups is not None else ""))
    chosen = rng.choice(len(i), size=min(count, len(i)), replace=False)
    return np.stack([i[chosen], j[chosen]], axis=1)


def mean_pairwise(distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  images: np.ndarray, pairs: np.ndarray, batch: int = 32) -> float:
    values = []
    for start in range(0, len(pairs), batch):
        a, b = pairs[start:start + batch].T
        with torch.no_grad():
            values.append(distance(torch.as_tensor(images[a]).float(),
                                   torch.as_tensor(images[b]).float()).flatten())
    return float(torch.cat(values).mean())


class LPIPSDistance:
    """LPIPS v0.1 (the ``lpips`` package), AlexNet trunk, grey images replicated to RGB."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu", sha256: str | None = None):
        self.model, self.device, self.sha256 = model.to(device).eval(), device, sha256

    @classmethod
    def find(cls, weights_dir: Path | str | None, device: str = "cpu", offline: bool = False,
             weight: WeightFile | None = None) -> LPIPSDistance:
        """The calibrated LPIPS; the trunk's ImageNet weights come from :func:`ensure`.

        The linear calibration layers ship inside the ``lpips`` package.
        """
        path, digest = ensure(weight or WEIGHTS["alexnet"], weights_dir, offline)
        return cls.load(path, device, digest)

    @classmethod
    def load(cls, path: Path, device: str = "cpu", sha256: str | None = None) -> LPIPSDistance:
        import lpips

        with warnings.catch_warnings():  # lpips still calls torchvision with `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        _load_trunk(model.net, torch.load(path, map_location="cpu", weights_only=True))
        return cls(model, device, sha256)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        rgb = [x.to(self.device).repeat(1, 3, 1, 1) for x in (a, b)]
        return self.model(*rgb, normalize=True).cpu()  # normalize: [0, 1] -> [-1, 1]


def _load_trunk(trunk: torch.nn.Module, state: dict) -> None:
    """torchvision's ``features.{i}.*`` names onto lpips' ``slice{k}.{i}.*`` layout."""
    by_index = {name.split(".")[-1]: module for name, module in trunk.named_modules()
                if name.count(".") == 1}
    loaded = 0
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "features":
            continue
        getattr(by_index[parts[1]], parts[2]).data.copy_(value)
        loaded += 1
    if loaded == 0:
        raise ValueError("the AlexNet weights file has no 'features.*' entries")


class MSSSIM:
    """MONAI's MS-SSIM with as many of the five standard scales as the image size allows.

    MS-SSIM halves the image per scale, and every scale must hold the 11-pixel window:
    size // 2^(scales - 1) ≥ 11 (MONAI checks only size // (scales - 1)² > 10, which lets two
    scales through for sides 11-21 and then fails in the convolution). All five from 176 pixels
    on; smaller images use the first scales, their weights renormalised to sum 1; below 11
    pixels one scale with the largest odd window that fits.
    """

    def __init__(self, size: tuple[int, ...]):
        from monai.metrics import MultiScaleSSIMMetric

        smallest = min(size)
        scales = len(MS_SSIM_WEIGHTS)
        while scales > 1 and (smallest // max(1, scales - 1) ** 2 <= MS_SSIM_KERNEL - 1
                              or smallest // 2 ** (scales - 1) < MS_SSIM_KERNEL):
            scales -= 1
        kernel = MS_SSIM_KERNEL if smallest > MS_SSIM_KERNEL - 1 else (smallest - 1) | 1
        weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
        self.scales, self.kernel = scales, kernel
        self.metric = MultiScaleSSIMMetric(spatial_dims=len(size), data_range=1.0,
                                           kernel_size=kernel,
                                           weights=tuple(weights / weights.sum()))

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.metric(a, b)
