"""Predictions written to disk as nnU-Net writes them: one NIfTI per case, named after its id,
on the grid the case was stored on and with its stored affine, so that it overlays the input
image in any viewer and in any tool that reads the dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.api.case import Case
from bench.data.geometry import stored_affine
from bench.data.labels import label_dtype
from bench.data.nifti import write_volume

ENDING = ".nii.gz"


def write_prediction(folder: Path, case: Case, prediction: np.ndarray,
                     labels: dict[int, str]) -> Path:
    """``prediction``, a label map already on ``case``'s stored grid
    (:func:`bench.data.geometry.back_to_case`), as ``folder/<case id>.nii.gz``."""
    path = Path(folder) / f"{case.id}{ENDING}"
    array = np.asarray(prediction).astype(label_dtype(labels, path))
    if array.ndim == 2:  # a 2D case is stored as a volume of one slice
        array = array[..., None]
    write_volume(path, array, stored_affine(case))
    return path
