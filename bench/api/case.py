"""Case and CaseSet: the data every part of synth2seg exchanges.

A Case is one subject (or one 2D slice of one): channels-first image, integer label map, and
optionally partial-volume maps. A CaseSet is an ordered list of cases that share labels, channels
and dimensionality, so generators, segmenters and metrics can rely on those three facts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PV_TOLERANCE = 1e-3


@dataclass
class Case:
    """One subject: ``image`` (C, *spatial) float32, ``label`` (*spatial) int, 0 = background.

    ``pv`` holds partial-volume maps (K, *spatial) that sum to one, one map per label value
    0..K-1; ``label`` is then their argmax. ``meta`` carries channel names, site, lesion flag and
    source; ``affine`` is kept so a case can be written back where it came from.
    """

    id: str
    image: np.ndarray
    label: np.ndarray | None
    spacing: tuple[float, ...]
    pv: np.ndarray | None = None
    affine: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.dtype != np.float32:
            self.image = self.image.astype(np.float32)
        spatial = self.image.shape[1:]
        if self.image.ndim < 3:
            raise ValueError(f"case {self.id}: image must be (C, *spatial), got {self.image.shape}")
        if len(self.spacing) != len(spatial):
            raise ValueError(f"case {self.id}: spacing {self.spacing} does not match {spatial}")
        if self.label is not None:
            if self.label.shape != spatial:
                raise ValueError(
                    f"case {self.id}: label shape {self.label.shape} != image spatial {spatial}"
                )
            if not np.issubdtype(self.label.dtype, np.integer):
                raise ValueError(f"case {self.id}: label must be integer, got {self.label.dtype}")
        if self.pv is not None and self.pv.shape[1:] != spatial:
            raise ValueError(f"case {self.id}: pv shape {self.pv.shape} != (K, *{spatial})")

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.image.shape[1:])


@dataclass
class CaseSet:
    """An ordered list of cases sharing ``labels`` ({value: name}), ``channels`` and dims."""

    cases: list[Case]
    labels: dict[int, str]
    channels: list[str]
    spatial_dims: int
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if 0 not in self.labels:
            raise ValueError("labels must declare 0 (background)")
        for case in self.cases:
            self._check(case)

    def _check(self, case: Case) -> None:
        if case.image.shape[0] != len(self.channels):
            raise ValueError(
                f"case {case.id}: {case.image.shape[0]} channels, the set has {self.channels}"
            )
        if case.image.ndim - 1 != self.spatial_dims:
            raise ValueError(f"case {case.id}: not {self.spatial_dims}D")

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __getitem__(self, index: int) -> Case:
        return self.cases[index]

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cases]

    def subset(self, indices: Sequence[int]) -> CaseSet:
        """The cases at ``indices``, in that order, with the same labels and channels."""
        return self.replace([self.cases[i] for i in indices])

    def replace(self, cases: list[Case]) -> CaseSet:
        """A CaseSet with other cases and this one's labels, channels, dims and meta."""
        return CaseSet(cases, dict(self.labels), list(self.channels), self.spatial_dims,
                       dict(self.meta))

    def label_volumes(self) -> dict[str, dict[str, float]]:
        """Per case, the physical volume (mm³ or mm² in 2D) of every declared label."""
        out = {}
        for case in self.cases:
            voxel = float(np.prod(case.spacing))
            counts = np.bincount(case.label.ravel(), minlength=max(self.labels) + 1)
            out[case.id] = {name: float(counts[v]) * voxel for v, name in self.labels.items()}
        return out


def pv_consistent(pv: np.ndarray, label: np.ndarray, tol: float = PV_TOLERANCE) -> bool:
    """True when partial-volume maps sum to one and their argmax is the label map."""
    return bool(np.all(np.abs(pv.sum(0) - 1.0) < tol) and np.array_equal(pv.argmax(0), label))
