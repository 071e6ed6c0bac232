"""Datasets: the embedded phantom, and folders in the nnU-Net v2 raw or MSD layout."""

from __future__ import annotations

from pathlib import Path

from bench.case import CaseSet
from bench.data.msd import is_msd, read_msd
from bench.data.nifti import read_json
from bench.data.nnunet import is_nnunet, read_nnunet, write_nnunet
from bench.errors import DataError

__all__ = ["load_dataset", "write_nnunet"]


def load_dataset(path: Path | str) -> CaseSet:
    """Read and validate a dataset folder, whichever of the two layouts it uses."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected an nnU-Net v2 or MSD dataset)")
    meta = read_json(root / "dataset.json")
    if is_nnunet(meta):
        return read_nnunet(root, meta)
    if is_msd(meta):
        return read_msd(root, meta)
    raise DataError(f"{root / 'dataset.json'}: neither nnU-Net v2 ('channel_names') nor MSD "
                    "('modality' and 'training') layout")
