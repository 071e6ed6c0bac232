"""Datasets: the embedded phantom, and folders in the nnU-Net v2 raw or MSD layout."""

from __future__ import annotations

from pathlib import Path

from bench.case import CaseSet
from bench.data.msd import is_msd, read_msd
from bench.data.nifti import read_json
from bench.data.nnunet import is_nnunet, read_nnunet, write_nnunet
from bench.errors import DataError

__all__ = ["load_dataset", "open_dataset", "write_nnunet"]


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


def open_dataset(spec: str | Path) -> CaseSet:
    """A dataset folder, or ``phantom[:SITE[:SUBJECTS]]`` for the embedded default.

    The phantom's default is 20 site-A subjects with seed 0, the set the demo and the README's
    figures use; other sites give out-of-distribution test sets.
    """
    text = str(spec)
    if text.split(":")[0] == "phantom" and not Path(text).is_dir():
        from bench.data.phantom import PhantomConfig, make_phantom

        _, site, subjects = (text.split(":") + ["A", "20"])[:3]
        if site not in ("A", "B", "C") or not subjects.isdigit() or int(subjects) < 1:
            raise DataError(f"dataset '{text}': expected phantom[:A|B|C[:SUBJECTS]]")
        return make_phantom(PhantomConfig(site=site, subjects=int(subjects)))
    return load_dataset(spec)
