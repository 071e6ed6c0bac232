"""The axis generators cut volumes along: the dataset's slicing axis.

A run plans its data's geometry (:mod:`bench.data.geometry`): every case in RAS+ at one target
spacing, and one slicing axis, the low-resolution one (axial when none is), along which the 2D
segmenters and the fidelity views cut volumes. The slice generators learn slices along it and
MedGen3D runs its sequences along it, so that they learn what the segmenters see and their
samples lie in the cases' own space. Each records the axis in its fitted state.

Their ``axis`` param came first. It stays in their Params, at 2, only because an identity hashes
every resolved param and the fits, samples and cells of earlier runs must keep their keys.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from bench.data.geometry import DEFAULT_SLICE_AXIS, slicing_axis

__all__ = ["DEFAULT_SLICE_AXIS", "KeptAxis", "slicing_axis"]


def _kept(axis: int) -> int:
    if axis != DEFAULT_SLICE_AXIS:
        raise ValueError("generators cut volumes along the dataset's slicing axis (its "
                         "low-resolution axis, else axial); 'axis' stays "
                         f"{DEFAULT_SLICE_AXIS}, kept for the identities of earlier runs")
    return axis


KeptAxis = Annotated[int, AfterValidator(_kept)]
