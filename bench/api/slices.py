"""The 2D view of 3D cases, and the way back.

The 2D papers train on slices: brainSPADE keeps axial slices with at least 10% brain and, for
lesion experiments, balances slices with and without lesion. Their metrics are computed on whole
volumes re-assembled from the slice predictions, so a SliceSet remembers where each slice came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.transforms import Resize

from bench.api.case import Case, CaseSet, Lazy, held, take

FITS = ("resize", "pad")


@dataclass
class SliceSet:
    """2D cases cut from a 3D CaseSet, with what is needed to put predictions back."""

    cases: CaseSet
    source: CaseSet
    index: list[tuple[int, int]]  # (case position in source, slice position along axis)
    axis: int
    fit: str

    def __len__(self) -> int:
        return len(self.cases)

    def assemble(self, predictions: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One label volume per source case; slices that were not selected stay background.

        Each prediction is a label map (H, W) or class scores (K, H, W); see :func:`restore`.
        """
        if len(predictions) != len(self.index):
            raise ValueError(f"{len(predictions)} predictions for {len(self.index)} slices")
        volumes = [np.zeros(c.spatial_shape, dtype=np.int16) for c in self.source]
        for pred, (ci, k) in zip(predictions, self.index, strict=True):
            shape = _drop(self.source[ci].spatial_shape, self.axis)
            slab = np.moveaxis(volumes[ci], self.axis, 0)
            slab[k] = restore(pred, shape, self.fit)
        return volumes


def restore(prediction: np.ndarray, shape: Sequence[int], fit: str) -> np.ndarray:
    """A slice's label map (H, W) or class scores (K, H, W) back on its original grid, as labels.

    Scores are resampled before the argmax, which keeps thin structures that a
    nearest-neighbour resampling of labels would lose.
    """
    shape = tuple(shape)
    if prediction.ndim == 2:
        return _fit(prediction[None].astype(np.float32), shape, fit, "nearest")[0]
    return _fit(prediction.astype(np.float32), shape, fit, "bilinear").argmax(0)


def extract_slices(
    cases: CaseSet,
    axis: int = 2,
    size: Sequence[int] | None = None,
    min_foreground: float = 0.1,
    *,
    fit: str = "resize",
    lesion_labels: Sequence[int] = (),
    lesion_fraction: float | None = None,
    min_lesion_pixels: int = 1,
    seed: int = 0,
) -> SliceSet:
    """Cut 2D slices along ``axis``.

    A slice is kept when the fraction of its pixels with a non-zero label is at least
    ``min_foreground`` (use 0 to keep every slice, e.g. for test volumes). When
    ``lesion_fraction`` is given, slices with at least ``min_lesion_pixels`` pixels of
    ``lesion_labels`` make up that fraction of the result: the larger group is subsampled with
    ``seed``. ``size`` resamples each slice to that in-plane shape (``fit="resize"``) or pads and
    crops it (``fit="pad"``).
    """
    if cases.spatial_dims != 3:
        raise ValueError("slices() needs 3D cases")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if lesion_fraction is not None and not 0.0 <= lesion_fraction <= 1.0:
        raise ValueError(f"lesion_fraction must be in [0, 1], got {lesion_fraction}")
    candidates, has_lesion = [], []
    for ci, case in enumerate(cases):
        label = np.moveaxis(case.label, axis, 0)
        for k in range(label.shape[0]):
            if (label[k] > 0).mean() >= min_foreground:
                candidates.append((ci, k))
                lesion_pixels = np.isin(label[k], lesion_labels).sum() if lesion_labels else 0
                has_lesion.append(lesion_pixels >= min_lesion_pixels and lesion_pixels > 0)
    if lesion_fraction is not None:
        candidates = _balance(candidates, np.array(has_lesion, bool), lesion_fraction, seed)
    slices = [_cut(cases[ci], k, axis, size, fit) for ci, k in candidates]
    view = CaseSet(slices, dict(cases.labels), list(cases.channels), 2, dict(cases.meta))
    return SliceSet(view, cases, candidates, axis, fit)


def _balance(candidates, has_lesion: np.ndarray, fraction: float, seed: int):
    """Subsample the larger group so lesion slices make up ``fraction`` of the result."""
    rng = np.random.default_rng(seed)
    lesion, healthy = np.flatnonzero(has_lesion), np.flatnonzero(~has_lesion)
    n_l, n_h = len(lesion), len(healthy)
    if fraction == 1.0:
        n_h = 0
    elif fraction == 0.0:
        n_l = 0
    elif n_l / max(n_l + n_h, 1) > fraction:
        n_l = min(n_l, round(fraction * n_h / (1.0 - fraction)))
    else:
        n_h = min(n_h, round(n_l * (1.0 - fraction) / fraction))
    keep = np.concatenate([rng.choice(lesion, n_l, replace=False),
                           rng.choice(healthy, n_h, replace=False)])
    return [candidates[i] for i in np.sort(keep)]


def _cut(case: Case, k: int, axis: int, size, fit: str) -> Case:
    if case.lazy:
        return _lazy_cut(case, k, axis, size, fit)
    image = np.take(case.image, k, axis=axis + 1)
    label = np.take(case.label, k, axis=axis)
    pv = None if case.pv is None else np.take(case.pv, k, axis=axis + 1)
    meta = {**case.meta, "source": case.id, "slice": k, "axis": axis}
    cut = Case(f"{case.id}_s{k:03d}", image, label, _drop(case.spacing, axis), pv=pv, meta=meta)
    return cut if size is None else fit_case(cut, tuple(size), fit)


def _lazy_cut(case: Case, k: int, axis: int, size, fit: str) -> Case:
    """The slice of a case whose arrays are references, as references: a SliceSet of a dataset
    read from the cache holds no voxels; each slice reads its plane (and fits it) when used."""
    pv = None if case.ref("pv") is None else take(case.ref("pv"), k, axis + 1)
    meta = {**case.meta, "source": case.id, "slice": k, "axis": axis}
    cut = Case(f"{case.id}_s{k:03d}", take(case.ref("image"), k, axis + 1),
               take(case.ref("label"), k, axis), _drop(case.spacing, axis), pv=pv, meta=meta)
    if size is None or cut.spatial_shape == tuple(size):
        return cut
    size = tuple(size)
    spacing = cut.spacing
    if fit == "resize":
        spacing = tuple(s * n / m for s, n, m in zip(spacing, cut.spatial_shape, size,
                                                     strict=True))
    refs = (cut.ref("image"), cut.ref("label"), cut.ref("pv"), size, fit)
    image = Lazy((cut.n_channels, *size), np.float32, _fitted, "image", *refs)
    label = Lazy(size, cut.ref("label").dtype, _fitted, "label", *refs)
    pv = None if cut.ref("pv") is None else Lazy((cut.ref("pv").shape[0], *size), np.float32,
                                                 _fitted, "pv", *refs)
    return Case(cut.id, image, label, spacing, pv=pv, meta=meta)


def _fitted(name: str, image, label, pv, size, fit: str) -> np.ndarray:
    """One array of a referenced slice, fitted as :func:`fit_case` fits it, reading only what
    that array depends on (the label follows the partial-volume maps where there are any): a
    batch drawn from the cache reads each plane once, not every array of the slice per array."""
    if name == "image":
        return _fit_image(np.asarray(held(image)), size, fit)
    if pv is not None:
        fitted = _fit_pv(np.asarray(held(pv), dtype=np.float32), size, fit)
        return fitted if name == "pv" else fitted.argmax(0).astype(label.dtype)
    return _fit_label(np.asarray(held(label)), size, fit)


def fit_slices(cases: CaseSet, size: Sequence[int], fit: str = "resize") -> CaseSet:
    """2D cases brought to one in-plane ``size``, e.g. generated slices of another size."""
    if cases.spatial_dims != 2:
        raise ValueError("fit_slices() needs 2D cases")
    return cases.replace([fit_case(c, tuple(size), fit) for c in cases])


def fit_case(case: Case, size: tuple[int, ...], fit: str) -> Case:
    """One case resampled (``resize``) or padded and cropped (``pad``) to ``size``."""
    if case.spatial_shape == size:
        return case
    image, label, pv, spacing = case.image, case.label, case.pv, case.spacing
    if fit == "resize":
        spacing = tuple(s * n / m for s, n, m in zip(spacing, label.shape, size, strict=True))
    image = _fit_image(image, size, fit)
    if pv is not None:
        pv = _fit_pv(pv, size, fit)
        label = pv.argmax(0).astype(case.label.dtype)
    else:
        label = _fit_label(label, size, fit)
    return dataclasses.replace(case, image=image, label=label, pv=pv, spacing=spacing)


def _linear(size: tuple[int, ...]) -> str:
    return "bilinear" if len(size) == 2 else "trilinear"


def _fit_image(image: np.ndarray, size: tuple[int, ...], fit: str) -> np.ndarray:
    return _fit(image, size, fit, _linear(size))


def _fit_pv(pv: np.ndarray, size: tuple[int, ...], fit: str) -> np.ndarray:
    """Partial-volume maps fitted and renormalised; padding is background."""
    pv = _fit(pv, size, fit, _linear(size))
    if fit == "pad":
        pv[0][pv.sum(0) == 0] = 1.0
    return pv / np.clip(pv.sum(0, keepdims=True), 1e-6, None)


def _fit_label(label: np.ndarray, size: tuple[int, ...], fit: str) -> np.ndarray:
    return _fit(label[None].astype(np.float32), size, fit, "nearest")[0].astype(label.dtype)


def to_spacing(case: Case, spacing: Sequence[float]) -> Case:
    """``case`` resampled to voxel ``spacing``, its field of view kept.

    A generator that works at a reduced grid (brainSPADE and StyleGAN2 resize slices to 64 x 64)
    returns anatomy at another voxel size than the real data's; a segmenter sees voxels, not
    millimetres, so without this its synthetic training brains are smaller than the real ones.
    """
    size = tuple(max(1, round(n * s / t))
                 for n, s, t in zip(case.spatial_shape, case.spacing, spacing, strict=True))
    return fit_case(case, size, "resize")


def _fit(array: np.ndarray, size: tuple[int, ...], fit: str, mode: str) -> np.ndarray:
    """Channel-first ``array`` to spatial ``size`` by resampling or by padding and cropping."""
    if tuple(array.shape[1:]) == tuple(size):
        return array
    if fit == "pad":
        return _pad_or_crop(array, size)
    transform = Resize(size, mode=mode, align_corners=None if mode == "nearest" else False)
    return np.asarray(transform(torch.as_tensor(array)).numpy(), dtype=np.float32)


def _pad_or_crop(array: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Centre ``array`` in ``size`` with zeros, cropping where it is larger.

    Padding and cropping put the odd voxel on the same side, so cropping undoes padding exactly
    (MONAI's ResizeWithPadOrCrop does not: its pad and its centre crop differ by one voxel when
    the size difference is odd).
    """
    out = np.zeros((array.shape[0], *size), dtype=np.float32)
    src, dst = [slice(None)], [slice(None)]
    for n, m in zip(array.shape[1:], size, strict=True):
        offset = abs(m - n) // 2
        inner = slice(offset, offset + min(n, m))
        src.append(inner if n > m else slice(None))
        dst.append(inner if m > n else slice(None))
    out[tuple(dst)] = array[tuple(src)]
    return out


def _drop(values: Sequence, axis: int) -> tuple:
    return tuple(v for i, v in enumerate(values) if i != axis)


# The slice filter of the 2D generators' and papers' views (brainSPADE: slices with >= 10% brain).
CASE_SLICE_FOREGROUND = 0.1


def slices_per_case(cases: CaseSet, axis: int = 2,
                    min_foreground: float = CASE_SLICE_FOREGROUND) -> int:
    """How many 2D samples one generated case stands for (``count_unit: cases``).

    The mean, over the 3D cases, of the number of slices along ``axis`` (the dataset's slicing
    axis, which the harness passes) whose fraction of non-zero label pixels is at least
    ``min_foreground`` (the slices a 2D generator learns from), rounded to the nearest integer
    and at least 1. 2D cases count 1.
    """
    if cases.spatial_dims == 2 or not len(cases):
        return 1
    kept = [int(((np.moveaxis(case.label, axis, 0) > 0).reshape(case.label.shape[axis], -1)
                 .mean(axis=1) >= min_foreground).sum()) for case in cases]
    return max(1, round(sum(kept) / len(kept)))
