"""Datasets: the embedded phantom, and folders in the nnU-Net v2 raw or MSD layout."""

from __future__ import annotations

from pathlib import Path

from bench.api.case import CaseSet
from bench.api.errors import DataError
from bench.data.cache import cached_dataset
from bench.data.msd import is_msd, read_msd
from bench.data.nifti import read_json
from bench.data.nnunet import is_nnunet, read_nnunet, write_nnunet

__all__ = ["load_dataset", "open_dataset", "write_nnunet"]


def load_dataset(path: Path | str, labelled: bool = True, cache: bool = True) -> CaseSet:
    """Read and validate a dataset folder, whichever of the two layouts it uses.

    ``labelled=False`` also accepts an nnU-Net folder without ``labelsTr/`` (e.g. unlabelled
    target-domain images used as styles); its cases have no label.

    With ``cache`` (the default) the folder is read once into the on-disk cache
    (:mod:`bench.data.cache`) and the cases reference their arrays there, read on access;
    ``cache=False`` reads every array into memory.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected an nnU-Net v2 or MSD dataset)")
    meta = read_json(root / "dataset.json")
    if is_nnunet(meta):
        def read(keep=_same):
            return read_nnunet(root, meta, labelled, keep=keep)
    elif is_msd(meta):
        def read(keep=_same):
            return read_msd(root, meta, keep=keep)
    else:
        raise DataError(f"{root / 'dataset.json'}: neither nnU-Net v2 ('channel_names') nor "
                        "MSD ('modality' and 'training') layout")
    cases = cached_dataset(root, {"labelled": labelled}, read) if cache else read()
    return _has_foreground(cases, root)


def _same(case):
    return case


def _has_foreground(cases: CaseSet, root: Path) -> CaseSet:
    """A labelled set whose every label map is background would train and score to Dice 0."""
    labels = (c.label for c in cases if c.ref("label") is not None)  # read one at a time
    labelled = any(c.ref("label") is not None for c in cases)
    if labelled and not any(label.any() for label in labels):
        raise DataError(f"{root}: every label map is all background (0); expected labelled "
                        "structures")
    return cases


def open_dataset(spec: str | Path, labelled: bool = True) -> CaseSet:
    """A dataset folder, or ``phantom[:SITE[:SUBJECTS[:MM[:CHANNELS]]]][:OPTION...]``.

    The phantom's default is 20 site-A subjects at 2 mm with seed 0; other sites give
    out-of-distribution test sets, and a finer voxel size (e.g. 1.5) less partial volume.
    CHANNELS picks MR sequences joined by '+', e.g. ``phantom:A:20:2:T1+FLAIR``. Options follow
    the positional fields: ``seed=N`` draws other subjects (subject *i* of a site and seed is
    always the same subject, so ``phantom:B:4`` is part of ``phantom:B:10``; ``phantom:B:4:seed=1``
    is not), and ``lesions`` gives subjects a tumour.
    """
    text = str(spec)
    if text.split(":")[0] == "phantom" and not Path(text).is_dir():
        return _phantom(text)
    return load_dataset(spec, labelled)


def _phantom(text: str) -> CaseSet:
    from bench.data.phantom import make_phantom

    return make_phantom(_phantom_config(text))


def _phantom_config(text: str):
    """The :class:`PhantomConfig` a ``phantom:...`` spec names (no subject is made)."""
    from bench.data.phantom import PhantomConfig

    tokens = text.split(":")[1:]
    positional = [t for t in tokens if "=" not in t and t != "lesions"]
    options = dict(t.split("=", 1) for t in tokens if "=" in t)
    try:
        if len(positional) > 4 or set(options) - {"seed"}:
            raise ValueError(text)
        site, subjects, resolution, channels = positional + ["A", "20", "2.0", ""][
            len(positional):]
        config = PhantomConfig(site=site, subjects=int(subjects), resolution=float(resolution),
                               channels=tuple(channels.split("+")) if channels else None,
                               seed=int(options.get("seed", 0)), lesions="lesions" in tokens)
    except (ValueError, TypeError):
        raise DataError(f"dataset '{text}': expected "
                        "phantom[:A|B|C[:SUBJECTS[:MM[:T1+T2+FLAIR]]]][:seed=N][:lesions]"
                        ) from None
    return config
