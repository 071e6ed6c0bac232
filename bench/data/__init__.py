"""Datasets: the embedded phantom, and folders in the nnU-Net v2 raw or MSD layout."""

from __future__ import annotations

from pathlib import Path

from bench.case import CaseSet
from bench.data.msd import is_msd, read_msd
from bench.data.nifti import read_json
from bench.data.nnunet import is_nnunet, read_nnunet, write_nnunet
from bench.errors import DataError

__all__ = ["load_dataset", "open_dataset", "write_nnunet"]


def load_dataset(path: Path | str, labelled: bool = True) -> CaseSet:
    """Read and validate a dataset folder, whichever of the two layouts it uses.

    ``labelled=False`` also accepts an nnU-Net folder without ``labelsTr/`` (e.g. unlabelled
    target-domain images used as styles); its cases have no label.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected an nnU-Net v2 or MSD dataset)")
    meta = read_json(root / "dataset.json")
    if is_nnunet(meta):
        return _has_foreground(read_nnunet(root, meta, labelled), root)
    if is_msd(meta):
        return _has_foreground(read_msd(root, meta), root)
    raise DataError(f"{root / 'dataset.json'}: neither nnU-Net v2 ('channel_names') nor MSD "
                    "('modality' and 'training') layout")


def _has_foreground(cases: CaseSet, root: Path) -> CaseSet:
    """A labelled set whose every label map is background would train and score to Dice 0."""
    labels = [c.label for c in cases if c.label is not None]
    if labels and not any(label.any() for label in labels):
        raise DataError(f"{root}: every label map is all background (0); expected labelled "
                        "structures")
    return cases


def open_dataset(spec: str | Path, labelled: bool = True) -> CaseSet:
    """A dataset folder, or ``phantom[:SITE[:SUBJECTS[:MM[:CHANNELS]]]]`` for the embedded default.

    The phantom's default is 20 site-A subjects at 2 mm with seed 0; other sites give
    out-of-distribution test sets, and a finer voxel size (e.g. 1.5) less partial volume.
    CHANNELS picks MR sequences joined by '+', e.g. ``phantom:A:20:2:T1+FLAIR``.
    """
    text = str(spec)
    if text.split(":")[0] == "phantom" and not Path(text).is_dir():
        from bench.data.phantom import PhantomConfig, make_phantom

        parts = text.split(":")[1:]
        try:
            if len(parts) > 4:
                raise ValueError(text)
            site, subjects, resolution, channels = parts + ["A", "20", "2.0", ""][len(parts):]
            config = PhantomConfig(site=site, subjects=int(subjects),
                                   resolution=float(resolution),
                                   channels=tuple(channels.split("+")) if channels else None)
        except (ValueError, TypeError):
            raise DataError(f"dataset '{text}': expected "
                            "phantom[:A|B|C[:SUBJECTS[:MM[:T1+T2+FLAIR]]]]") from None
        return make_phantom(config)
    return load_dataset(spec, labelled)
