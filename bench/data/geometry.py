"""Orientation and spacing as nnU-Net handles them, and the way back for predictions.

Every 3D case read from a folder is put in one voxel order, RAS+ (``nibabel``'s
``as_closest_canonical``: axes permuted and flipped, no interpolation); ``meta["geometry"]``
keeps the stored affine, shape and spacing so a prediction can be brought back (cases stored in
RAS+ need no record and get none). A run then
resamples its cases to one target spacing chosen by nnU-Net's rule
(``ExperimentPlanner.determine_fullres_target_spacing``) with nnU-Net's own resampling
(images: order 3, labels: per-class linear, order 0 across the low-resolution axis of
anisotropic data), and its 2D models cut slices along the dataset's low-resolution axis.
Predictions are resampled back (nearest neighbour) and re-oriented to the stored grid, where
every metric is computed with the stored spacing.

A dataset already in RAS+ whose cases share the target spacing passes through unchanged (the
same arrays), as the embedded phantom does. Cases read from the dataset cache are resampled once
into it (``bench.data.cache.derived_arrays``): a resampled dataset stays out of core.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError
from bench.data.cache import derived_arrays

GEOMETRY = "geometry"  # Case.meta: the grid the case was stored on
PLAN = "geometry_plan"  # CaseSet.meta: the target spacing and slicing axis a run uses
ANISOTROPY = 3.0  # nnU-Net's ANISO_THRESHOLD: max/min spacing above it is anisotropic
DEFAULT_SLICE_AXIS = 2  # axial in RAS+ (the phantom's and every earlier result's axis)
RULES = ("median", "as-stored")


@dataclass(frozen=True)
class Plan:
    """Where a run's cases are brought: ``spacing`` None keeps each case's own."""

    spacing: tuple[float, ...] | None
    slice_axis: int

    def as_dict(self) -> dict:
        return {"spacing": None if self.spacing is None else list(self.spacing),
                "slice_axis": self.slice_axis}


# ---------------------------------------------------------------------------- orientation
def _affine(case: Case) -> np.ndarray:
    if case.affine is not None:
        return np.asarray(case.affine, dtype=np.float64)
    return np.diag([*case.spacing, 1.0])


def axcodes(affine: np.ndarray) -> str:
    """The stored voxel order, e.g. ``RAS`` or ``LPS``."""
    import nibabel as nib

    return "".join(nib.aff2axcodes(np.asarray(affine)))


def to_canonical(case: Case) -> Case:
    """``case`` in RAS+ voxel order, its stored grid kept in ``meta["geometry"]`` when that
    differs (a case stored in RAS+ is returned as it is, without the record)."""
    import nibabel as nib

    affine = _affine(case)
    ornt = nib.orientations.io_orientation(affine)
    if _is_identity(ornt):  # stored in RAS+ already: the same case (a stale record dropped)
        if GEOMETRY not in case.meta:
            return case
        return dataclasses.replace(case, meta={k: v for k, v in case.meta.items()
                                               if k != GEOMETRY})
    stored = {"affine": affine.tolist(), "shape": list(case.spatial_shape),
              "spacing": [float(s) for s in case.spacing], "axcodes": axcodes(affine)}
    meta = {**case.meta, GEOMETRY: stored}
    new_affine = affine @ nib.orientations.inv_ornt_aff(ornt, case.spatial_shape)
    return _reoriented(case, ornt, new_affine, meta)


def to_stored(case: Case) -> Case:
    """The inverse of :func:`to_canonical`: the case on the grid it was stored on."""
    stored = case.meta.get(GEOMETRY)
    if stored is None:
        return case
    back = _back(stored, case.spatial_shape)
    if back is None:
        return case
    return _reoriented(case, back, np.asarray(stored["affine"]), case.meta)


def array_to_stored(array: np.ndarray, case: Case) -> np.ndarray:
    """A label map on ``case``'s canonical grid, in the case's stored voxel order."""
    import nibabel as nib

    stored = case.meta.get(GEOMETRY)
    back = None if stored is None else _back(stored, array.shape)
    if back is None:
        return array
    return np.ascontiguousarray(nib.orientations.apply_orientation(array, back))


def _back(stored: dict, shape) -> np.ndarray | None:
    import nibabel as nib

    ornt = nib.orientations.io_orientation(np.asarray(stored["affine"]))
    if _is_identity(ornt):
        return None
    return nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"), ornt)


def _is_identity(ornt: np.ndarray) -> bool:
    return bool(np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]))


def _reoriented(case: Case, ornt: np.ndarray, affine: np.ndarray, meta: dict) -> Case:
    from nibabel.orientations import apply_orientation

    def channels(array):
        if array is None:
            return None
        moved = apply_orientation(np.moveaxis(array, 0, -1), ornt)
        return np.ascontiguousarray(np.moveaxis(moved, -1, 0))

    label = None if case.label is None else np.ascontiguousarray(
        apply_orientation(case.label, ornt))
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    return dataclasses.replace(case, image=channels(case.image), label=label,
                               pv=channels(case.pv), spacing=spacing, affine=affine, meta=meta)


def canonical_set(cases: CaseSet) -> CaseSet:
    """Every 3D case in RAS+ (2D cases are kept as they are)."""
    if cases.spatial_dims != 3:
        return cases
    return cases.replace([to_canonical(c) for c in cases])


# ---------------------------------------------------------------------------- spacing
def target_spacing(spacings: Sequence[Sequence[float]],
                   shapes: Sequence[Sequence[int]]) -> tuple[float, ...]:
    """nnU-Net v2's ``determine_fullres_target_spacing``: the median spacing, except for
    anisotropic data (the coarsest axis more than 3x the others' spacing and 3x fewer voxels),
    whose coarse axis gets the 10th percentile of its spacings (never finer than the others).

    nnU-Net measures shapes after cropping to the non-zero region; here they are the stored
    shapes (in RAS+ order).
    """
    spacings = np.vstack([np.asarray(s, dtype=np.float64) for s in spacings])
    target = np.percentile(spacings, 50, 0)
    target_size = np.percentile(np.vstack([np.asarray(s) for s in shapes]), 50, 0)
    worst = int(np.argmax(target))
    others = [i for i in range(len(target)) if i != worst]
    other_spacings = [target[i] for i in others]
    other_sizes = [target_size[i] for i in others]
    aniso_spacing = target[worst] > ANISOTROPY * max(other_spacings)
    aniso_voxels = target_size[worst] * ANISOTROPY < min(other_sizes)
    if aniso_spacing and aniso_voxels:
        of_axis = np.percentile(spacings[:, worst], 10)
        if of_axis < max(other_spacings):
            of_axis = max(max(other_spacings), of_axis) + 1e-5
        target[worst] = of_axis
    return tuple(float(s) for s in target)


def slice_axis(spacing: Sequence[float]) -> int:
    """The low-resolution axis (2D models slice along it); axial (2) when no axis is coarser
    than every other by more than 1%."""
    spacing = np.asarray(spacing, dtype=np.float64)
    worst = int(np.argmax(spacing))
    others = np.delete(spacing, worst)
    return worst if spacing[worst] > 1.01 * others.max() else DEFAULT_SLICE_AXIS


def plan(cases: CaseSet, rule: str | Sequence[float] = "median") -> Plan:
    """The target spacing and slicing axis of a dataset (its training cases)."""
    if cases.spatial_dims != 3 or not len(cases):
        return Plan(None, DEFAULT_SLICE_AXIS)
    spacings = [c.spacing for c in cases]
    median = target_spacing(spacings, [c.spatial_shape for c in cases])
    if isinstance(rule, str):
        if rule not in RULES:
            raise ConfigError(f"target_spacing: {rule!r} is not one of {RULES} or [x, y, z]")
        spacing = None if rule == "as-stored" else median
        return Plan(spacing, slice_axis(median if spacing is None else spacing))
    spacing = tuple(float(s) for s in rule)
    if len(spacing) != 3 or not all(0 < s < float("inf") for s in spacing):
        raise ConfigError(f"target_spacing: {list(rule)} must be three positive millimetres")
    return Plan(spacing, slice_axis(spacing))


def plan_of(cases: CaseSet) -> Plan | None:
    value = cases.meta.get(PLAN)
    if value is None:
        return None
    spacing = value["spacing"]
    return Plan(None if spacing is None else tuple(spacing), int(value["slice_axis"]))


def unplanned(cases: CaseSet) -> str | None:
    """Why cases used as stored (no plan applied) are not what a run would use, or None: a
    stand-alone generator fit slices axially and does not resample, so it should say so where the
    dataset's low-resolution axis is another or its spacings differ."""
    if plan_of(cases) is not None or cases.spatial_dims != 3 or not len(cases):
        return None
    run_plan = plan(cases)
    if run_plan.slice_axis != DEFAULT_SLICE_AXIS:
        return (f"its low-resolution axis is {run_plan.slice_axis}, but cases used as stored are "
                f"sliced along axis {DEFAULT_SLICE_AXIS}")
    spacings = {tuple(round(s, 3) for s in c.spacing) for c in cases}
    if len(spacings) > 1:
        return f"its cases have {len(spacings)} different spacings and are used as stored"
    return None


def new_shape(shape: Sequence[int], spacing: Sequence[float],
              target: Sequence[float]) -> tuple[int, ...]:
    """nnU-Net's ``compute_new_shape``."""
    return tuple(int(round(s / t * n)) for n, s, t in zip(shape, spacing, target, strict=True))


def resample(case: Case, target: Sequence[float] | None) -> Case:
    """``case`` at voxel ``target`` with nnU-Net's resampling; the same case when its shape
    would not change (nnU-Net does not resample then either).

    A case read from the dataset cache is resampled once into the cache and comes back as
    references to it (:func:`bench.data.cache.derived_arrays`): a resampled dataset stays on
    disk, and later runs and worker processes read it instead of resampling again."""
    if target is None:
        return case
    shape = new_shape(case.spatial_shape, case.spacing, target)
    if shape == case.spatial_shape:
        return case
    target = tuple(float(t) for t in target)
    recipe = {"resample": list(target), "from": list(case.spacing),
              "nnunetv2": _nnunet_version()}
    arrays = derived_arrays(case, recipe, lambda: _resampled(case, shape, target))
    return case.with_arrays(**arrays, spacing=target,
                            affine=_scaled_affine(_affine(case), case.spatial_shape, shape))


def _resampled(case: Case, shape: tuple[int, ...], target: tuple[float, ...]) -> dict:
    """nnU-Net's resampling of the case's arrays: images order 3, partial volumes linear (and
    the label their argmax), labels per-class linear; order 0 across the low-resolution axis of
    anisotropic data."""
    from nnunetv2.preprocessing.resampling.default_resampling import (
        resample_data_or_seg_to_shape as to_shape,
    )

    old = tuple(case.spacing)
    image = to_shape(case.image, shape, old, target, is_seg=False, order=3, order_z=0,
                     force_separate_z=None).astype(np.float32)
    pv, label = case.pv, case.ref("label")  # the label is read only where it is resampled
    if pv is not None:
        pv = to_shape(pv, shape, old, target, is_seg=False, order=1, order_z=0,
                      force_separate_z=None).clip(0, None)
        pv = (pv / np.clip(pv.sum(0, keepdims=True), 1e-6, None)).astype(np.float32)
        label = pv.argmax(0).astype(label.dtype) if label is not None else None
    elif label is not None:
        label = to_shape(case.label[None], shape, old, target, is_seg=True, order=1, order_z=0,
                         force_separate_z=None)[0].astype(label.dtype)
    return {"image": image, "label": label, "pv": pv}


@functools.cache
def _nnunet_version() -> str:
    """The resampling is nnU-Net's: another version may resample differently."""
    from importlib.metadata import version

    return version("nnunetv2")


def _scaled_affine(affine: np.ndarray, old: Sequence[int], new: Sequence[int]) -> np.ndarray:
    """The affine of a grid resampled from ``old`` to ``new`` voxels over the same extent
    (voxel centres as scikit-image's ``resize`` places them)."""
    scale = np.asarray(old, dtype=np.float64) / np.asarray(new, dtype=np.float64)
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * scale
    out[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((scale - 1.0) / 2.0)
    return out


def apply(cases: CaseSet, run_plan: Plan) -> CaseSet:
    """``cases`` brought to the plan's spacing, the plan recorded in their meta."""
    meta = {**cases.meta, PLAN: run_plan.as_dict()}
    if cases.spatial_dims != 3:
        return CaseSet(cases.cases, cases.labels, cases.channels, cases.spatial_dims, meta)
    out = [resample(c, run_plan.spacing) for c in cases]
    return CaseSet(out, dict(cases.labels), list(cases.channels), 3, meta)


def slicing_axis(cases: CaseSet) -> int:
    """The axis 2D models cut ``cases`` along: the run's plan, else axial."""
    found = plan_of(cases)
    return DEFAULT_SLICE_AXIS if found is None else found.slice_axis


# ---------------------------------------------------------------------------- the way back
def back_to_case(prediction: np.ndarray, case: Case,
                 predicted_spacing: Sequence[float] | None = None) -> np.ndarray:
    """A label map predicted on the resampled grid (voxels of ``predicted_spacing``) brought to
    ``case``'s grid (nearest neighbour: nnU-Net's resampling with order 0) and then to its
    stored voxel order."""
    prediction = np.asarray(prediction)
    shape = case.spatial_shape
    if prediction.shape != shape:
        from nnunetv2.preprocessing.resampling.default_resampling import (
            resample_data_or_seg_to_shape as to_shape,
        )

        now = tuple(predicted_spacing) if predicted_spacing is not None else tuple(
            s * n / m for s, n, m in zip(case.spacing, shape, prediction.shape, strict=True))
        prediction = to_shape(prediction[None], shape, now, tuple(case.spacing), is_seg=True,
                              order=0, order_z=0, force_separate_z=None)[0].astype(
                                  prediction.dtype)
    return array_to_stored(prediction, case)


def stored_affine(case: Case) -> np.ndarray:
    """The 4 x 4 affine of the grid ``case`` was stored on: a prediction on that grid written
    with it lies where the input image lies (a 2D case's: its one-slice volume's)."""
    stored = case.meta.get(GEOMETRY)
    if stored is not None:
        return np.asarray(stored["affine"], dtype=np.float64)
    if case.affine is not None:
        return np.asarray(case.affine, dtype=np.float64)
    affine = np.eye(4)
    affine[range(len(case.spacing)), range(len(case.spacing))] = case.spacing
    return affine


def stored_set(cases: CaseSet) -> CaseSet:
    """Every case on its stored grid (what metrics are computed on)."""
    return cases.replace([to_stored(c) for c in cases])
