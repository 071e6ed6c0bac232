"""Reading and writing single NIfTI files with errors that name the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from bench.api.errors import DataError
from bench.data.labels import label_dtype

AFFINE_TOLERANCE_MM = 1e-3
# Largest voxel magnitude read: CT and MR stay far below; squares summed over a billion voxels
# still fit float32 (3.4e38), so normalisation and losses stay finite.
MAX_INTENSITY = 1e12
# What a header may claim before any voxel is read: a volume larger than this is not one
# synth2seg can train on, and a 64-byte file claiming 1300^3 voxels must not allocate 2 GB.
MAX_VOXELS = 1024**3
GZIP_MAX_RATIO = 1100  # deflate never expands more than ~1032x; more is a lie or truncation


class Volume:
    """The array of one NIfTI file with its affine and voxel spacing."""

    def __init__(self, path: Path, data: np.ndarray, affine: np.ndarray):
        self.path, self.data, self.affine = path, data, affine

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))


def read_volume(path: Path, what: str) -> Volume:
    """Load ``path`` fully (so truncation shows here, not in a training loop)."""
    if not path.is_file():
        raise DataError(f"{path}: missing ({what})")
    try:
        img = nib.load(str(path))
        _check_size(path, img)
        data = np.asanyarray(img.dataobj)
    except DataError:
        raise
    except Exception as exc:  # nibabel and gzip raise many types for damaged files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: unreadable or truncated NIfTI ({reason})") from None
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
            or data.dtype == np.bool_):
        raise DataError(f"{path}: voxels of type {data.dtype} ({what}); expected real numbers "
                        "(complex or RGB volumes are not images synth2seg can read)")
    return Volume(path, data, np.asarray(img.affine, dtype=np.float64))


def _check_size(path: Path, img) -> None:
    """The voxels the header claims fit the limit and could be in a file of this size."""
    shape = tuple(int(n) for n in img.header.get_data_shape())
    voxels = int(np.prod(shape, dtype=object)) if shape else 0
    if voxels > MAX_VOXELS:
        raise DataError(f"{path}: header claims {' x '.join(map(str, shape))} voxels, more than "
                        f"the {MAX_VOXELS} synth2seg reads")
    claimed = voxels * img.header.get_data_dtype().itemsize
    size = path.stat().st_size
    stored = size * GZIP_MAX_RATIO if path.name.endswith(".gz") else size
    if claimed > stored:
        raise DataError(f"{path}: header claims {' x '.join(map(str, shape))} voxels "
                        f"({claimed} bytes), more than a file of {size} bytes can hold "
                        "(truncated or damaged)")


def check_finite(volume: Volume) -> None:
    """Finite voxels of a magnitude whose statistics float32 can hold (a volume near 3e38
    overflows every mean and variance into NaN and trains to NaN weights)."""
    if np.issubdtype(volume.data.dtype, np.floating) and not np.isfinite(volume.data).all():
        bad = int((~np.isfinite(volume.data)).sum())
        raise DataError(f"{volume.path}: {bad} NaN/Inf voxels; images must be finite")
    if volume.data.size and max(abs(float(volume.data.max())),
                                abs(float(volume.data.min()))) > MAX_INTENSITY:
        raise DataError(f"{volume.path}: voxel values up to "
                        f"{max(abs(float(volume.data.max())), abs(float(volume.data.min()))):.3g};"
                        f" expected magnitudes below {MAX_INTENSITY:.0e} (larger ones overflow "
                        "float32 statistics)")


def check_same_grid(volume: Volume, reference: Volume) -> None:
    """Image channels, labels and maps of one case must share shape and affine."""
    if volume.data.shape[:3] != reference.data.shape[:3]:
        raise DataError(f"{volume.path}: shape {volume.data.shape[:3]} does not match "
                        f"{reference.path.name} {reference.data.shape[:3]}")
    if not np.allclose(volume.affine, reference.affine, atol=AFFINE_TOLERANCE_MM):
        raise DataError(f"{volume.path}: affine differs from {reference.path.name} "
                        f"(max difference {np.abs(volume.affine - reference.affine).max():.4g})")


def as_label(volume: Volume, declared: dict[int, str]) -> np.ndarray:
    """The label map as integers, every value declared in dataset.json."""
    data = volume.data
    if np.issubdtype(data.dtype, np.floating):
        if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
            raise DataError(f"{volume.path}: label map has non-integer values")
    values = np.unique(data).astype(np.int64)
    undeclared = sorted(set(values.tolist()) - set(declared))
    if undeclared:
        raise DataError(f"{volume.path}: label values {undeclared} are not declared in "
                        f"dataset.json labels {sorted(declared)}")
    return data.astype(label_dtype(declared, volume.path))


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing (every dataset folder needs a dataset.json)")
    try:
        value = json.loads(path.read_text(), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise DataError(f"{path}: key {exc.args[0]!r} appears twice in one object; JSON keeps "
                        "only the last, so the first would be silently lost") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno} "
                        f"({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a dataset description") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return value


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _DuplicateKey(next(k for k in keys if keys.count(k) > 1))
    return dict(pairs)


def write_volume(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))


def numbered_names(mapping, where: Path, field: str) -> list[str]:
    """``{"0": "T1", "1": "FLAIR"}`` → ``["T1", "FLAIR"]``: keys must number 0..n-1."""
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(f"{where}: '{field}' must be a non-empty object like {{\"0\": \"T1\"}}")
    if not all(k.isascii() and k.isdigit() and k == str(int(k)) for k in mapping):
        raise DataError(f"{where}: '{field}' keys must be channel numbers written 0, 1, 2, ...")
    keys = sorted(int(k) for k in mapping)
    if keys != list(range(len(keys))):
        raise DataError(f"{where}: '{field}' must number channels 0..{len(keys) - 1}")
    names = [mapping[str(k)] for k in keys]
    if not all(isinstance(name, str) and name for name in names):
        raise DataError(f"{where}: '{field}' values must be channel names (text)")
    return names
