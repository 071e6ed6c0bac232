"""The 2D training slices of the slice generators (brainSPADE, the StyleGAN2 family).

Slices carry partial-volume maps, images, their source volume, site and lesion flag. brainSPADE
keeps slices with at least 10% brain and, for the lesion generator, a set in which 2/3 of the
slices carry at least 20 tumour pixels. Images are in the unit range of
:mod:`generators.intensity` (per volume and channel: minimum 0, the brain's 99th percentile 1,
nothing clipped), so the generator sees the same range whatever the scanner; ``intensity`` maps
samples back to the data's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.api.case import Case, CaseSet
from bench.api.slices import extract_slices, fit_slices
from bench.data.lesions import lesion_values
from generators.intensity import IntensityRange, dataset_range, to_unit


def lesion_labels(labels: dict[int, str], given: list[int] | None = None) -> list[int]:
    """The label values that mark a lesion: ``given``, else those whose names say so."""
    if given is not None:
        return sorted(given)
    return lesion_values(labels)


@dataclass
class SliceBank:
    """Training slices as tensors; ``volume[i]`` is the source volume of slice ``i``."""

    pv: torch.Tensor  # (N, K, H, W), sums to one over K
    images: torch.Tensor  # (N, C, H, W), per volume in the unit range
    volume: np.ndarray  # (N,) int
    lesion: np.ndarray  # (N,) bool
    site: np.ndarray  # (N,) int, index into ``sites``
    sites: list[str]
    channels: list[str]
    labels: dict[int, str]
    spacing: tuple[float, float]
    intensity: IntensityRange  # unit range -> the training data's units

    def __len__(self) -> int:
        return len(self.volume)

    def style_partners(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each slice, another slice of the same volume (itself when the volume has one)."""
        out = np.empty_like(index)
        for n, i in enumerate(index):
            same = np.flatnonzero(self.volume == self.volume[i])
            others = same[same != i]
            out[n] = rng.choice(others) if len(others) else i
        return out


def pv_maps(case: Case, n_labels: int) -> np.ndarray:
    """The case's partial-volume maps, or a one-hot encoding of its labels when it has none."""
    if case.pv is not None:
        return case.pv.astype(np.float32)
    return np.eye(n_labels, dtype=np.float32)[case.label].transpose(-1, *range(case.label.ndim))


def slice_bank(cases: CaseSet, size: tuple[int, int], fit: str, axis: int,
               min_foreground: float, lesions: list[int], min_lesion_pixels: int) -> SliceBank:
    """Slices of ``cases`` (3D volumes, or 2D cases taken as they are) at one ``size``."""
    n_labels = max(cases.labels) + 1
    scaled = cases.replace([to_unit(c) for c in cases])
    if scaled.spatial_dims == 3:
        view = extract_slices(scaled, axis=axis, size=size, min_foreground=min_foreground,
                              fit=fit)
        slices, volume = view.cases, np.array([ci for ci, _ in view.index])
    else:
        slices, volume = fit_slices(scaled, size, fit), np.arange(len(scaled))
    if len(slices) == 0:
        raise ValueError(f"no slice has {min_foreground:.0%} foreground; lower min_foreground")
    site_of = [str(c.meta.get("site", cases.meta.get("site", "?"))) for c in slices]
    sites = sorted(set(site_of))
    lesion = np.array([np.isin(c.label, lesions).sum() >= min_lesion_pixels if lesions else False
                       for c in slices])
    return SliceBank(
        pv=torch.from_numpy(np.stack([pv_maps(c, n_labels) for c in slices])),
        images=torch.from_numpy(np.stack([c.image for c in slices])),
        volume=volume, lesion=lesion, site=np.array([sites.index(s) for s in site_of]),
        sites=sites, channels=list(cases.channels), labels=dict(cases.labels),
        spacing=tuple(slices[0].spacing), intensity=dataset_range(cases))
