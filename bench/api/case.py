"""Case and CaseSet: the data every part of synth2seg exchanges.

A Case is one subject (or one 2D slice of one): channels-first image, integer label map, and
optionally partial-volume maps. A CaseSet is an ordered list of cases that share labels, channels
and dimensionality, so generators, segmenters and metrics can rely on those three facts.

A case's arrays are either held (numpy arrays, as generators and tests build them) or referenced:
a :class:`Lazy` knows its shape and dtype and reads the array when ``case.image`` (``label``,
``pv``) is used, e.g. as a read-only memory map of the on-disk dataset cache
(``bench.data.cache``). Each access reads afresh and nothing is kept, so walking a CaseSet of
referenced cases holds one case in memory at a time, however many cases it has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PV_TOLERANCE = 1e-3


class Lazy:
    """An array read when used: ``load()`` calls ``fn(*args)``; shape and dtype are known first.

    ``fn`` is a module-level function so that a case referencing its arrays pickles small (a
    worker process opens the same files instead of receiving the arrays).
    """

    __slots__ = ("shape", "dtype", "fn", "args")

    def __init__(self, shape: tuple[int, ...], dtype, fn: Callable[..., np.ndarray], *args):
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        self.fn, self.args = fn, args

    def __getstate__(self):
        return self.shape, self.dtype, self.fn, self.args

    def __setstate__(self, state) -> None:
        self.shape, self.dtype, self.fn, self.args = state

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def load(self) -> np.ndarray:
        array = self.fn(*self.args)
        if tuple(array.shape) != self.shape or array.dtype != self.dtype:
            raise ValueError(f"{self!r} read an array {array.shape} {array.dtype}")
        return array

    def __repr__(self) -> str:
        return f"Lazy({self.shape}, {self.dtype.name}, {self.fn.__name__}{self.args!r})"


def open_npy(path: str) -> np.ndarray:
    """A ``.npy`` file as a read-only memory map (pages are read when touched)."""
    return np.load(path, mmap_mode="r")


def npy_ref(path, shape: tuple[int, ...], dtype) -> Lazy:
    return Lazy(shape, dtype, open_npy, str(path))


def held(value):
    """The array ``value`` is: read now when it is a :class:`Lazy`, else itself."""
    return value.load() if isinstance(value, Lazy) else value



def take(value, k: int, axis: int):
    """Index ``k`` along ``axis`` of an array or of a reference (then a reference that reads
    only what it needs: slicing a memory map reads one slice; slicing a channel map maps one
    slice)."""
    if not isinstance(value, Lazy):
        return np.take(value, k, axis=axis)
    shape = tuple(n for i, n in enumerate(value.shape) if i != axis)
    if value.fn is _channel_map and axis > 0:
        source, *terms = value.args
        return Lazy(shape, value.dtype, _channel_map, take(source, k, axis), *terms)
    return Lazy(shape, value.dtype, _take, value, k, axis)


def _take(value, k: int, axis: int) -> np.ndarray:
    return np.array(np.take(held(value), k, axis=axis))


def channel_map(value, low, high, offset, divisor) -> Lazy:
    """A reference to ``(clip(image[c], low[c], high[c]) - offset[c]) / divisor[c]`` per channel
    of a (C, ...) float32 image (``low``/``high`` None: no clipping), computed when read; an
    index along a spatial axis reads and maps that slice only."""
    return Lazy(value.shape, np.float32, _channel_map, value, tuple(low), tuple(high),
                tuple(offset), tuple(divisor))


def _channel_map(value, low, high, offset, divisor) -> np.ndarray:
    image = np.array(held(value), dtype=np.float32, copy=True)
    for c in range(image.shape[0]):
        if low[c] is not None or high[c] is not None:
            np.clip(image[c], low[c], high[c], out=image[c])
        image[c] -= offset[c]
        image[c] /= divisor[c]
    return image


@dataclass
class Case:
    """One subject: ``image`` (C, *spatial) float32, ``label`` (*spatial) int, 0 = background.

    ``pv`` holds partial-volume maps (K, *spatial) that sum to one, one map per label value
    0..K-1; ``label`` is then their argmax. ``meta`` carries channel names, site, lesion flag and
    source; ``affine`` is kept so a case can be written back where it came from.

    ``image``, ``label`` and ``pv`` may be given as arrays or as :class:`Lazy` references; reading
    the attribute returns an array either way (a referenced one is read on each access, so keep
    it in a local variable while working on it). Shapes and dtypes are checked without reading.
    """

    id: str
    image: np.ndarray
    label: np.ndarray | None
    spacing: tuple[float, ...]
    pv: np.ndarray | None = None
    affine: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        image, label, pv = self.ref("image"), self.ref("label"), self.ref("pv")
        if image.dtype != np.float32:
            if isinstance(image, Lazy):
                raise ValueError(f"case {self.id}: a referenced image must be float32, got "
                                 f"{image.dtype}")
            self.image = image = image.astype(np.float32)
        spatial = tuple(image.shape[1:])
        if image.ndim < 3:
            raise ValueError(f"case {self.id}: image must be (C, *spatial), got {image.shape}")
        if len(self.spacing) != len(spatial):
            raise ValueError(f"case {self.id}: spacing {self.spacing} does not match {spatial}")
        if label is not None:
            if tuple(label.shape) != spatial:
                raise ValueError(
                    f"case {self.id}: label shape {label.shape} != image spatial {spatial}"
                )
            if not np.issubdtype(label.dtype, np.integer):
                raise ValueError(f"case {self.id}: label must be integer, got {label.dtype}")
        if pv is not None and tuple(pv.shape[1:]) != spatial:
            raise ValueError(f"case {self.id}: pv shape {pv.shape} != (K, *{spatial})")

    def ref(self, name: str):
        """What the case keeps for ``image``, ``label`` or ``pv``: an array, a :class:`Lazy` or
        None; reading it does not read a referenced array."""
        if name not in ("image", "label", "pv"):
            raise ValueError(f"case {self.id}: no array named {name!r}")
        return self.__dict__[f"_{name}"]

    def with_arrays(self, **changes) -> Case:
        """A copy with some fields changed (like ``dataclasses.replace``) that keeps the other
        arrays as they are kept here: references stay references, nothing is read."""
        fields = {"image": self.ref("image"), "label": self.ref("label"), "pv": self.ref("pv"),
                  "spacing": self.spacing, "affine": self.affine, "meta": self.meta}
        fields.update(changes)
        return Case(self.id, fields.pop("image"), fields.pop("label"), **fields)

    @property
    def lazy(self) -> bool:
        """True when some array of the case is read on access rather than held."""
        return any(isinstance(self.ref(n), Lazy) for n in ("image", "label", "pv"))

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.ref("image").shape[1:])

    @property
    def n_channels(self) -> int:
        return int(self.ref("image").shape[0])


def _array_property(name: str) -> property:
    key = f"_{name}"

    def get(self: Case):
        return held(self.__dict__[key])

    def set_(self: Case, value) -> None:
        self.__dict__[key] = value

    return property(get, set_, doc=f"The case's {name} (read now if it is referenced).")


# Set after @dataclass so the generated __init__ (and dataclasses.replace) go through them.
for _name in ("image", "label", "pv"):
    setattr(Case, _name, _array_property(_name))


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
        if case.n_channels != len(self.channels):
            raise ValueError(
                f"case {case.id}: {case.n_channels} channels, the set has {self.channels}"
            )
        if len(case.spatial_shape) != self.spatial_dims:
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
        for case in self.cases:  # one label map read at a time
            voxel = float(np.prod(case.spacing))
            counts = np.bincount(np.asarray(case.label).ravel(), minlength=max(self.labels) + 1)
            out[case.id] = {name: float(counts[v]) * voxel for v, name in self.labels.items()}
        return out


def pv_consistent(pv: np.ndarray, label: np.ndarray, tol: float = PV_TOLERANCE) -> bool:
    """True when partial-volume maps sum to one and their argmax is the label map."""
    return bool(np.all(np.abs(pv.sum(0) - 1.0) < tol) and np.array_equal(pv.argmax(0), label))
