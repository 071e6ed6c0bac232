"""The nnU-Net v2 raw layout: read it with validation, and write any CaseSet into it.

Layout: ``dataset.json`` (``channel_names``, ``labels``, ``numTraining``, ``file_ending``),
``imagesTr/CASE_XXXX<ending>`` (one file per channel), ``labelsTr/CASE<ending>``. synth2seg adds
two things nnU-Net ignores: ``pvTr/CASE<ending>`` (partial-volume maps, last axis = label value)
and a ``synth2seg`` entry in dataset.json with per-case metadata and the set's dimensionality.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.data.geometry import to_canonical
from bench.data.labels import declared_labels
from bench.data.nifti import (
    Volume,
    as_label,
    check_finite,
    check_same_grid,
    numbered_names,
    read_volume,
    write_volume,
)
from bench.data.outputs import mark_output
from bench.data.replace import replace_folder

REQUIRED = ("channel_names", "labels", "numTraining", "file_ending")
ENDINGS = (".nii.gz", ".nii")


def is_nnunet(meta: dict) -> bool:
    return "channel_names" in meta


def read_nnunet(root: Path, meta: dict, labelled: bool = True,
                keep: Callable[[Case], Case] = lambda case: case) -> CaseSet:
    """The cases of an nnU-Net v2 raw folder; each passes through ``keep`` as soon as it is
    read (``bench.data.cache`` stores it there and keeps a reference)."""
    where = root / "dataset.json"
    for key in REQUIRED:
        if key not in meta:
            raise DataError(f"{where}: field '{key}' is missing (nnU-Net v2 needs {REQUIRED})")
    ending = meta["file_ending"]
    if ending not in ENDINGS:
        raise DataError(f"{where}: file_ending {ending!r} is not supported (expected {ENDINGS})")
    channels = numbered_names(meta["channel_names"], where, "channel_names")
    labels = _labels(meta["labels"], where)
    images, label_dir = root / "imagesTr", root / "labelsTr"
    if not images.is_dir():
        raise DataError(f"{images}: missing (nnU-Net v2 keeps training images there)")
    pattern = re.compile(r"^(.+)_(\d{4})" + re.escape(ending) + "$")
    ids = {m.group(1) for p in images.iterdir() if (m := pattern.match(p.name))}
    if label_dir.is_dir():
        ids |= {p.name[: -len(ending)] for p in label_dir.iterdir() if p.name.endswith(ending)}
    if not ids:
        raise DataError(f"{root}: empty dataset (no cases in imagesTr/ or labelsTr/)")
    declared = meta["numTraining"]
    if declared != len(ids):
        raise DataError(f"{where}: numTraining is {declared} but {len(ids)} cases were found")
    extra, case_meta = _own_entry(meta, where)
    cases = []
    for case_id in sorted(ids):
        files = [images / f"{case_id}_{c:04d}{ending}" for c in range(len(channels))]
        volumes = [read_volume(f, f"channel {c} '{name}' of case {case_id}")
                   for c, (f, name) in enumerate(zip(files, channels, strict=True))]
        label = None
        if labelled or label_dir.is_dir():  # unlabelled sets (style images) lack labelsTr/
            label = read_volume(label_dir / f"{case_id}{ending}", f"label of case {case_id}")
        pv_path = root / "pvTr" / f"{case_id}{ending}"
        pv = read_volume(pv_path, "partial volumes") if pv_path.exists() else None
        case = _case(case_id, volumes, label, pv, labels, case_meta.get(case_id, {}))
        del volumes, label, pv
        cases.append(keep(_squeeze_2d(case) if extra.get("spatial_dims") == 2
                          else to_canonical(case)))
    return CaseSet(cases, labels, channels, extra.get("spatial_dims", 3), {"source": str(root)})


def _own_entry(meta: dict, where: Path) -> tuple[dict, dict]:
    """The ``synth2seg`` entry and its per-case metadata, each of the type synth2seg writes."""
    extra = meta.get("synth2seg", {})
    if not isinstance(extra, dict):
        raise DataError(f"{where}: 'synth2seg' must be an object (it is written by synth2seg)")
    if extra.get("spatial_dims", 3) not in (2, 3) or isinstance(extra.get("spatial_dims"), bool):
        raise DataError(f"{where}: 'synth2seg.spatial_dims' must be 2 or 3")
    cases = extra.get("cases", {})
    if not isinstance(cases, dict) or not all(isinstance(v, dict) for v in cases.values()):
        raise DataError(f"{where}: 'synth2seg.cases' must map case ids to objects")
    return extra, cases


def _labels(labels, where: Path) -> dict[int, str]:
    if not isinstance(labels, dict):
        raise DataError(f"{where}: labels must be an object like {{\"background\": 0}}")
    pairs = []
    for name, value in labels.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise DataError(f"{where}: label '{name}' is {value!r}; synth2seg supports integer "
                            "labels only (no region-based training)")
        pairs.append((value, name))
    out = declared_labels(pairs, where)
    if 0 not in out:
        raise DataError(f"{where}: labels must declare background as 0")
    return out


def _case(case_id, volumes: list[Volume], label: Volume | None, pv: Volume | None, labels,
          meta) -> Case:
    reference = volumes[0]
    for volume in volumes:
        if volume.data.ndim != 3:
            raise DataError(f"{volume.path}: expected a 3D volume, got shape {volume.data.shape}")
        check_same_grid(volume, reference)
        check_finite(volume)
    if label is not None:
        if label.data.ndim != 3:
            raise DataError(f"{label.path}: expected a 3D label map, got shape "
                            f"{label.data.shape}")
        check_same_grid(label, reference)
    image = np.stack([np.asarray(v.data, np.float32) for v in volumes])
    pv_maps = None
    if pv is not None:
        check_same_grid(pv, reference)
        check_finite(pv)
        pv_maps = _pv(pv, len(labels))
    label = None if label is None else as_label(label, labels)
    return Case(case_id, image, label, reference.spacing, pv=pv_maps,
                affine=reference.affine, meta=dict(meta))


def _pv(volume: Volume, n_labels: int) -> np.ndarray:
    data = np.asarray(volume.data, np.float32)
    if data.ndim != 4 or data.shape[3] != n_labels:
        raise DataError(f"{volume.path}: partial volumes must be (X, Y, Z, {n_labels}), "
                        f"got {data.shape}")
    if np.abs(data.sum(3) - 1.0).max() > 1e-3:
        raise DataError(f"{volume.path}: partial-volume maps must sum to one in every voxel")
    return np.moveaxis(data, 3, 0)


def _squeeze_2d(c: Case) -> Case:
    """Slices are stored as volumes of depth one; read them back as 2D cases."""
    if c.spatial_shape[2] != 1:
        raise DataError(f"{c.id}: dataset.json says 2D but the case has depth "
                        f"{c.spatial_shape[2]}")
    pv = None if c.pv is None else c.pv[..., 0]
    label = None if c.label is None else c.label[..., 0]
    return Case(c.id, c.image[..., 0], label, c.spacing[:2], pv=pv, affine=c.affine, meta=c.meta)


def write_nnunet(cases: CaseSet, root: Path, name: str = "synth2seg",
                 overwrite: bool = False) -> Path:
    """Write ``cases`` as an nnU-Net v2 raw dataset; 2D cases become volumes of depth one.

    A non-empty ``root`` is refused unless ``overwrite``; callers that take a user's folder
    check it with :func:`bench.data.outputs.claim_output` first, so a user's own files are never
    deleted. The dataset is written beside ``root`` and swapped in whole
    (:func:`bench.data.replace.replace_folder`): a write that fails leaves the earlier one as it
    was, no case of an earlier export is left behind, and a symlink inside it is never followed.
    """
    root = Path(root)
    if not overwrite and root.is_dir() and any(root.iterdir()):
        raise DataError(f"{root}: folder is not empty; refusing to write a dataset into it")
    replace_folder(root, lambda folder: _write_into(cases, folder, name))
    return root


def _write_into(cases: CaseSet, root: Path, name: str) -> None:
    """The dataset's files in the fresh folder ``root``, marked as synth2seg's first."""
    mark_output(root)
    ending = ".nii.gz"
    for case in cases:
        image, label, pv = case.image, case.label, case.pv
        if cases.spatial_dims == 2:
            image, label = image[..., None], label[..., None]
            pv = None if pv is None else pv[..., None]
        affine = case.affine if case.affine is not None else _affine(case.spacing)
        for c in range(image.shape[0]):
            write_volume(root / "imagesTr" / f"{case.id}_{c:04d}{ending}", image[c], affine)
        write_volume(root / "labelsTr" / f"{case.id}{ending}", label, affine)
        if pv is not None:
            write_volume(root / "pvTr" / f"{case.id}{ending}",
                         np.moveaxis(pv, 0, -1).astype(np.float32), affine)
    meta = {
        "name": name,
        "channel_names": {str(i): ch for i, ch in enumerate(cases.channels)},
        "labels": {label_name: value for value, label_name in sorted(cases.labels.items())},
        "numTraining": len(cases),
        "file_ending": ending,
        "synth2seg": {"spatial_dims": cases.spatial_dims,
                      "cases": {c.id: c.meta for c in cases}},
    }
    (root / "dataset.json").write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")


def _affine(spacing) -> np.ndarray:
    affine = np.eye(4)
    for i, s in enumerate(tuple(spacing)[:3]):
        affine[i, i] = s
    return affine
