"""MedGen3D's view of the data: every volume as a sequence of slices on one grid.

The sequence axis (``axis``; 2 is axial for the phantom and for RAS-oriented NIfTI) is moved to
the front and volumes are resampled to ``depth`` slices of ``size`` x ``size`` pixels: labels by
nearest neighbour, images trilinearly. Images are divided per case and channel by the 99th
percentile of the labelled voxels (as the other generators do), clipped to [0, 1] and mapped
to [-1, 1].

**Mask encoding for diffusion.** As in the paper, a mask is one channel per slice holding one
discrete value per region: label k of K is 2k / (K - 1) - 1, evenly spaced in [-1, 1]. The
MC-DPM denoises these values; :func:`decode` rounds each voxel to the nearest level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.case import CaseSet
from bench.errors import DataError
from generators.slicebank import scale_intensities


@dataclass
class VolumeBank:
    labels: torch.Tensor  # (N, D, H, W) int64, on the grid
    images: torch.Tensor  # (N, C, D, H, W) float in [-1, 1]
    n_labels: int
    label_names: dict[int, str]
    channels: list[str]
    spacing: tuple[float, ...]  # of the first training case, for the samples
    shape: tuple[int, ...]  # its spatial shape, which samples are brought back to


def to_grid(array: np.ndarray | torch.Tensor, axis: int, depth: int, size: int,
            mode: str) -> torch.Tensor:
    """(C, X, Y, Z) → (C, depth, size, size) with ``axis`` first; ``mode``: nearest|trilinear."""
    x = torch.as_tensor(np.asarray(array), dtype=torch.float32)
    x = x.movedim(axis + 1, 1)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(x[None], size=(depth, size, size), mode=mode, **kwargs)[0]


def from_grid(grid: torch.Tensor, axis: int, shape: tuple[int, ...], mode: str) -> torch.Tensor:
    """The inverse of :func:`to_grid`: (C, depth, size, size) → (C, *shape)."""
    moved = list(shape)
    moved.insert(0, moved.pop(axis))
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    x = F.interpolate(grid[None].float(), size=tuple(moved), mode=mode, **kwargs)[0]
    return x.movedim(1, axis + 1)


def volume_bank(cases: CaseSet, depth: int, size: int, axis: int) -> VolumeBank:
    if cases.spatial_dims != 3:
        raise DataError("generator 'medgen3d' needs 3D volumes")
    if len(cases) == 0:
        raise DataError("generator 'medgen3d': no training volumes")
    labels, images = [], []
    for case in cases:
        scaled = scale_intensities(case).image
        images.append(to_grid(np.clip(scaled, 0.0, 1.0) * 2.0 - 1.0, axis, depth, size,
                              "trilinear"))
        labels.append(to_grid(case.label[None], axis, depth, size, "nearest")[0].long())
    return VolumeBank(torch.stack(labels), torch.stack(images), max(cases.labels) + 1,
                      dict(cases.labels), list(cases.channels), tuple(cases[0].spacing),
                      tuple(cases[0].spatial_shape))


def encode(labels: torch.Tensor, n_labels: int) -> torch.Tensor:
    return labels.float() * (2.0 / (n_labels - 1)) - 1.0


def decode(values: torch.Tensor, n_labels: int) -> torch.Tensor:
    return ((values + 1.0) * ((n_labels - 1) / 2.0)).round().clamp(0, n_labels - 1).long()


def one_hot(labels: torch.Tensor, n_labels: int, dim: int = 1) -> torch.Tensor:
    """(B, *s) labels → one-hot with the class axis at ``dim``."""
    return F.one_hot(labels, n_labels).movedim(-1, dim).float()
