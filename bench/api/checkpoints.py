"""Checkpoints that never run code when loaded.

``torch.load(weights_only=False)`` unpickles arbitrary objects, so a crafted ``.pt`` in a shared
generator folder, a fit's ``work/`` or a run's cell folder would run code the moment synth2seg
resumed or sampled from it. Everything synth2seg saves is tensors, dicts, lists, strings and
numbers (:func:`plain`), which ``weights_only=True`` loads; anything else is refused, and a
damaged file is one line naming it instead of a traceback.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from bench.api.errors import DataError


def load_checkpoint(path: Path, device: str = "cpu"):
    """The contents of a checkpoint written by synth2seg, loaded with ``weights_only=True``."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):  # torch.save writes zip archives
        raise DataError(f"{path}: unreadable or truncated checkpoint (not the zip archive "
                        "torch.save writes)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        reason = found.group(1) if found else "an object that is not a tensor or number"
        raise DataError(f"{path}: refused to load: it refers to Python code ({reason}), not only "
                        "tensors and numbers; synth2seg never writes such checkpoints") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, IndexError,
            KeyError, TypeError, AttributeError) as exc:  # the unpickler's many ways
        reason = str(exc).splitlines()[0].split(". ")[0][:160] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: unreadable or truncated checkpoint ({reason})") from None


def plain(value):
    """``value`` with numpy arrays as tensors and numpy scalars as Python numbers, recursively,
    so that it loads with ``weights_only=True``."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    return value
