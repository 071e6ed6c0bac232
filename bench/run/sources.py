"""Generators read from a folder rather than built here: pre-generated cases (``folder``) and
generators fitted elsewhere (``fitted:``, a folder of ``synth2seg generator fit``).

Such a component is what its folder holds, wherever the folder lies: its identity is a hash of
the files' relative paths and bytes (never their times or the folder's path), so a moved folder
is the same method and a changed file another. A fitted folder is named by ``generator.json``
and ``model/`` only: its checkpoints (``work/``) do not change what it samples and may be deleted.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from bench.api.case import CaseSet
from bench.api.errors import ConfigError
from bench.run.digest import digest

INFO = "generator.json"  # written by ``synth2seg generator fit`` (bench.run.generate)
FITTED_PARTS = (INFO, "model")  # what a fitted folder samples from


def content_digest(folder: Path, parts: tuple[str, ...] | None = None) -> str:
    """A hash of every file under ``folder`` (only the top-level entries ``parts``, if given):
    relative paths and contents."""
    files = digest(folder)
    if parts is not None:
        files = {name: f for name, f in files.items() if name.split("/")[0] in parts}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def read_info(folder: Path) -> dict:
    """``generator.json`` of a generator folder, with at least the generator's name."""
    try:
        info = json.loads((folder / INFO).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder / INFO}: unreadable ({str(exc).splitlines()[0]}); "
                          "it is written by 'synth2seg generator fit'") from None
    except RecursionError:
        raise ConfigError(f"{folder / INFO}: nested too deeply; it is written by "
                          "'synth2seg generator fit'") from None
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise ConfigError(f"{folder / INFO}: expected an object with the generator 'name'")
    for field, ok, expected in _INFO_TYPES:
        if field in info and not ok(info[field]):
            raise ConfigError(f"{folder / INFO}: '{field}' is {info[field]!r:.60}, expected "
                              f"{expected}; it is written by 'synth2seg generator fit'")
    return info


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _texts(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# what 'synth2seg generator fit' writes into generator.json, by field (bench.run.generate)
_INFO_TYPES = (
    ("version", lambda v: isinstance(v, str) or _is_int(v), "a version"),
    ("preset", lambda v: v is None or isinstance(v, str), "a preset name or null"),
    ("params", lambda v: isinstance(v, dict), "an object of parameters"),
    ("seed", lambda v: _is_int(v) and v >= 0, "a seed (a whole number >= 0)"),
    ("data", lambda v: isinstance(v, str), "a data fingerprint"),
    ("labels", lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and k.isascii() and k.lstrip("-").isdigit() and isinstance(n, str)
        for k, n in v.items()), "an object of label value -> name"),
    ("channels", lambda v: _texts(v) and len(v) > 0, "a list of channel names"),
    ("spatial_dims", lambda v: v in (2, 3) and not isinstance(v, bool), "2 or 3"),
    ("cases", _texts, "a list of image fingerprints"),
)


def fitted_info(folder: Path, name: str, version: str) -> dict:
    """``generator.json`` of a finished fit of generator ``name`` at ``version`` in ``folder``;
    one line saying what is wrong otherwise."""
    if not (folder / INFO).is_file() or not (folder / "model").is_dir():
        raise ConfigError(f"generator '{name}' fitted: {folder} is not a fitted generator (no "
                          f"{INFO} and model/; write one with 'synth2seg generator fit')")
    info = read_info(folder)
    if info["name"] != name:
        raise ConfigError(f"generator '{name}' fitted: {folder} holds a fit of "
                          f"'{info['name']}'; name that generator in the entry")
    if str(info.get("version")) != str(version):
        raise ConfigError(f"generator '{name}' fitted: {folder} was fitted by version "
                          f"{info.get('version')}, this installation has version {version}; "
                          "fit it again")
    for path in sorted((folder / "model").rglob("*.pt")):  # torch.save writes zip archives
        if not zipfile.is_zipfile(path):
            raise ConfigError(f"generator '{name}' fitted: {path} is not a checkpoint written "
                              "by synth2seg (damaged or replaced); fit it again")
    return info


def fitted_outputs(folder: Path) -> CaseSet | None:
    """The labels, channels and dims a fitted generator samples (no cases), as recorded when it
    was fitted; None for folders written before they were recorded."""
    info = read_info(folder)
    if not {"labels", "channels", "spatial_dims"} <= set(info):
        return None
    labels = {int(value): name for value, name in info["labels"].items()}
    return CaseSet([], labels, list(info["channels"]), int(info["spatial_dims"]),
                   {"source": str(folder)})


def seen_images(folder: Path) -> set[str] | None:
    """Fingerprints of the images the fit learned from, or None when they were not recorded."""
    cases = read_info(folder).get("cases")
    return None if cases is None else set(cases)
