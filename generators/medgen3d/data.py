"""MedGen3D's view of the data: every volume as a sequence of slices on one grid.

The sequence axis (``axis``: the dataset's slicing axis, axial for the phantom) is moved to
the front and volumes are resampled to ``depth`` slices of ``size`` x ``size`` pixels: labels by
their one-hot maps, images themselves, trilinearly at the same voxel centres, so that masks stay
on their images. Images are put in the unit range
of :mod:`generators.intensity` (as the other generators do; nothing clipped) and mapped to
[-1, 1]; ``intensity`` maps samples back to the data's units.

**Mask encoding for diffusion.** As in the paper, a mask is one channel per slice holding one
discrete value per region: label k of K is 2k / (K - 1) - 1, evenly spaced in [-1, 1]. The
MC-DPM denoises these values; :func:`decode` rounds each voxel to the nearest level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.api.case import CaseSet
from bench.api.errors import DataError
from generators.intensity import IntensityRange, dataset_range, to_unit


@dataclass
class VolumeBank:
    labels: torch.Tensor  # (N, D, H, W) int64, on the grid
    images: torch.Tensor  # (N, C, D, H, W) float in [-1, 1]
    n_labels: int
    label_names: dict[int, str]
    channels: list[str]
    spacing: tuple[float, ...]  # of the first training case, for the samples
    shape: tuple[int, ...]  # its spatial shape, which samples are brought back to
    intensity: IntensityRange  # unit range -> the training data's units


def to_grid(array: np.ndarray | torch.Tensor, axis: int, depth: int, size: int,
            mode: str) -> torch.Tensor:
    """(C, X, Y, Z) → (C, depth, size, size) with ``axis`` first; ``mode``: nearest|trilinear."""
    x = torch.as_tensor(np.asarray(array), dtype=torch.float32)
    x = x.movedim(axis + 1, 1)
    return _resample(x, (depth, size, size), mode)


def from_grid(grid: torch.Tensor, axis: int, shape: tuple[int, ...], mode: str) -> torch.Tensor:
    """The inverse of :func:`to_grid`: (C, depth, size, size) → (C, *shape)."""
    moved = list(shape)
    moved.insert(0, moved.pop(axis))
    return _resample(grid.float(), tuple(moved), mode).movedim(1, axis + 1)


def _resample(x: torch.Tensor, size: tuple[int, ...], mode: str) -> torch.Tensor:
    """Images trilinearly; label maps (``nearest``: one channel of label values) as one-hot
    maps resampled trilinearly, then the most likely label. Both sample at the same voxel
    centres, so masks stay on their images. (Torch's legacy ``nearest`` floors the scaled
    index instead: masks landed up to a voxel off their images.)"""
    if mode != "nearest":
        return F.interpolate(x[None], size=size, mode=mode, align_corners=False)[0]
    labels = x[0].round().long()
    onehot = F.one_hot(labels, int(labels.max()) + 1).movedim(-1, 0).float()
    soft = F.interpolate(onehot[None], size=size, mode="trilinear", align_corners=False)[0]
    return soft.argmax(0, keepdim=True).float()


def volume_bank(cases: CaseSet, depth: int, size: int, axis: int) -> VolumeBank:
    if cases.spatial_dims != 3:
        raise DataError("generator 'medgen3d' needs 3D volumes")
    if len(cases) == 0:
        raise DataError("generator 'medgen3d': no training volumes")
    labels, images = [], []
    for case in cases:
        images.append(to_grid(to_unit(case).image * 2.0 - 1.0, axis, depth, size, "trilinear"))
        labels.append(to_grid(case.label[None], axis, depth, size, "nearest")[0].long())
    return VolumeBank(torch.stack(labels), torch.stack(images), max(cases.labels) + 1,
                      dict(cases.labels), list(cases.channels), tuple(cases[0].spacing),
                      tuple(cases[0].spatial_shape), dataset_range(cases))


def encode(labels: torch.Tensor, n_labels: int) -> torch.Tensor:
    return labels.float() * (2.0 / (n_labels - 1)) - 1.0


def decode(values: torch.Tensor, n_labels: int) -> torch.Tensor:
    return ((values + 1.0) * ((n_labels - 1) / 2.0)).round().clamp(0, n_labels - 1).long()


def one_hot(labels: torch.Tensor, n_labels: int, dim: int = 1) -> torch.Tensor:
    """(B, *s) labels → one-hot with the class axis at ``dim``."""
    return F.one_hot(labels, n_labels).movedim(-1, dim).float()
