"""The Medical Segmentation Decathlon layout: ``dataset.json`` with ``modality``, ``labels`` and a
``training`` list of ``{"image": ..., "label": ...}``; multi-modal images are 4D with channels
last (e.g. BraTS: FLAIR, T1w, T1gd, T2w).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.data.geometry import to_canonical
from bench.data.labels import declared_labels
from bench.data.nifti import (
    as_label,
    check_finite,
    check_same_grid,
    numbered_names,
    read_volume,
)


def is_msd(meta: dict) -> bool:
    return "modality" in meta and "training" in meta


def read_msd(root: Path, meta: dict,
             keep: Callable[[Case], Case] = lambda case: case) -> CaseSet:
    """The cases of an MSD folder; each passes through ``keep`` as soon as it is read."""
    where = root / "dataset.json"
    for key in ("modality", "labels", "training"):
        if key not in meta:
            raise DataError(f"{where}: field '{key}' is missing (MSD layout)")
    channels = numbered_names(meta["modality"], where, "modality")
    labels = _labels(meta["labels"], where)
    if 0 not in labels:
        raise DataError(f"{where}: labels must declare background as \"0\"")
    entries = meta["training"]
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{where}: empty dataset ('training' lists no cases)")
    cases, seen = [], {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image" not in entry or "label" not in entry:
            raise DataError(f"{where}: training[{i}] must have 'image' and 'label'")
        for key in ("image", "label"):
            _inside(root, entry[key], f"{where}: training[{i}].{key}")
        case = _case(root, entry, channels, labels)
        if case.id in seen:
            raise DataError(f"{where}: training[{i}] repeats case '{case.id}' of "
                            f"training[{seen[case.id]}]; case ids must be unique")
        seen[case.id] = i
        cases.append(keep(case))
    return CaseSet(cases, labels, channels, 3, {"source": str(root)})


def _inside(root: Path, value, where: str) -> None:
    """Paths in dataset.json stay inside the dataset folder (no ``..``, no absolute paths)."""
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: expected a path relative to the dataset folder, got "
                        f"{value!r}")
    if not (root / value).resolve().is_relative_to(root.resolve()):
        raise DataError(f"{where}: {value!r} points outside the dataset folder {root}")


def _labels(labels, where: Path) -> dict[int, str]:
    if not isinstance(labels, dict) or not labels:
        raise DataError(f"{where}: 'labels' must be a non-empty object like {{\"0\": ...}}")
    for key in labels:  # "1" and "01" (or " 1") would both be value 1: one class renamed
        if not (key.lstrip("-").isascii() and key.lstrip("-").isdigit()
                and key == str(int(key))):
            raise DataError(f"{where}: 'labels' key {key!r} must be a label value written "
                            "0, 1, 2, ...")
    return declared_labels([(int(k), str(v)) for k, v in labels.items()], where)


def _case(root: Path, entry: dict, channels: list[str], labels: dict[int, str]) -> Case:
    image_path, label_path = root / entry["image"], root / entry["label"]
    case_id = image_path.name.split(".")[0]
    image = read_volume(image_path, f"image of case {case_id}")
    label = read_volume(label_path, f"label of case {case_id}")
    data = image.data if image.data.ndim == 4 else image.data[..., None]
    if data.ndim != 4 or data.shape[3] != len(channels):
        found = data.shape[3] if data.ndim == 4 else "?"
        raise DataError(f"{image_path}: {found} channel(s), dataset.json modality declares "
                        f"{len(channels)} ({', '.join(channels)})")
    check_finite(image)
    if label.data.ndim != 3:
        raise DataError(f"{label_path}: expected a 3D label map, got shape {label.data.shape}")
    check_same_grid(label, image)
    return to_canonical(Case(case_id, np.moveaxis(np.asarray(data, np.float32), 3, 0),
                             as_label(label, labels), image.spacing[:3], affine=image.affine,
                             meta={"source": str(image_path)}))
