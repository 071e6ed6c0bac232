"""Intensities between a dataset's own units and the generators' unit range, both ways.

Every case and channel is mapped linearly so that its minimum becomes 0 and the 99th percentile
of its labelled voxels becomes 1: per case, so that the arbitrary units of MR scanners agree. For
skull-stripped MR (minimum 0) this is the usual division by the brain's 99th percentile. Samples
are mapped back with the training set's median minimum and percentile. Nothing is clipped, in
either direction: CT's negative values (air, lung, fat) and values above the percentile (bone,
vessels) survive a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.api.case import Case, CaseSet

PERCENTILE = 99.0


@dataclass(frozen=True)
class IntensityRange:
    """Per channel, the intensities that map to 0 (``low``) and to 1 (``high``)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def to_unit(self, image, channel_axis: int = 0):
        """Data units → unit range; numpy arrays or torch tensors with channels at the axis."""
        low, span = self._broadcast(image, channel_axis)
        return (image - low) / span

    def from_unit(self, image, channel_axis: int = 0):
        """The inverse of :meth:`to_unit`."""
        low, span = self._broadcast(image, channel_axis)
        return image * span + low

    def pick(self, channels: list[int]) -> IntensityRange:
        """The range of some channels only, in that order."""
        return IntensityRange(tuple(self.low[i] for i in channels),
                              tuple(self.high[i] for i in channels))

    def _broadcast(self, image, channel_axis: int):
        shape = [1] * image.ndim
        shape[channel_axis] = len(self.low)
        low = np.asarray(self.low, np.float32).reshape(shape)
        span = (np.asarray(self.high, np.float32) - np.asarray(self.low, np.float32)
                ).reshape(shape)
        if not isinstance(image, np.ndarray):  # a torch tensor
            import torch

            low = torch.as_tensor(low, device=image.device)
            span = torch.as_tensor(span, device=image.device)
        return low, span

    def to_dict(self) -> dict:
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, data: dict) -> IntensityRange:
        return cls(tuple(map(float, data["low"])), tuple(map(float, data["high"])))


def case_range(case: Case) -> IntensityRange:
    """The case's own range: minimum and labelled voxels' 99th percentile per channel."""
    inside = case.label > 0 if case.label is not None else np.ones(case.image.shape[1:], bool)
    lows, highs = [], []
    for channel in case.image:
        values = channel[inside] if inside.any() else channel.ravel()
        low = float(channel.min())
        high = float(np.percentile(values, PERCENTILE))
        lows.append(low)
        highs.append(high if high > low else low + 1.0)  # a constant channel maps to 0
    return IntensityRange(tuple(lows), tuple(highs))


def to_unit(case: Case) -> Case:
    """The case with its image in the unit range of its own :func:`case_range`."""
    image = case_range(case).to_unit(case.image.astype(np.float32))
    return Case(case.id, image.astype(np.float32), case.label, case.spacing, pv=case.pv,
                affine=case.affine, meta=case.meta)


def dataset_range(cases: CaseSet) -> IntensityRange:
    """The range samples are mapped back with: the median of the cases' own ranges."""
    ranges = [case_range(c) for c in cases]
    low = np.median([r.low for r in ranges], axis=0)
    high = np.median([r.high for r in ranges], axis=0)
    return IntensityRange(tuple(map(float, low)), tuple(map(float, high)))
