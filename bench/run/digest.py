"""Content hashes of finished artifacts: a damaged file is found when it is used, not trusted.

When an artifact (a generator fit, a sample set, a cell's weights) is finished, the size and
SHA-256 of every file in its folder are recorded in a small JSON file. Before a finished artifact
is reused, the folder is checked again; a file that is missing, truncated or changed makes the
artifact unfinished, so it is rebuilt instead of silently feeding wrong numbers into a
leaderboard.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FILES = "files"  # the record's key: {relative path: {"bytes": size, "sha256": hash}}


def digest(folder: Path, skip: tuple[Path, ...] = ()) -> dict[str, dict]:
    """Size and SHA-256 of every file under ``folder`` (except ``skip``), by relative path."""
    return {name: {"bytes": path.stat().st_size, "sha256": _sha256(path)}
            for name, path in _files(folder, skip).items()}


def seal(folder: Path, record: Path, info: dict | None = None) -> None:
    """Write ``record`` (JSON: ``info`` plus the digest of ``folder``), atomically, last."""
    record = Path(record)
    payload = {**(info or {}), FILES: digest(folder, skip=(record,))}
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(record)


def damage(folder: Path, record: Path, quick: bool = False) -> str | None:
    """Why ``folder`` no longer matches ``record`` (a missing, truncated or changed file), or
    None when it does. ``quick`` compares sizes only: enough for truncation, cheap enough to run
    over every finished cell of a large run. A record without a digest (written before digests
    were kept) cannot be checked and counts as intact."""
    try:
        recorded = json.loads(Path(record).read_text()).get(FILES)
    except (OSError, ValueError, AttributeError):
        return f"{record} is unreadable"
    if recorded is None:
        return None
    found = _files(folder, skip=(Path(record),))
    for name, expected in recorded.items():
        path = found.get(name)
        if path is None:
            return f"{Path(folder) / name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{path} changed since it was finished (size)"
        if not quick and _sha256(path) != expected["sha256"]:
            return f"{path} changed since it was finished"
    return None


def _files(folder: Path, skip: tuple[Path, ...]) -> dict[str, Path]:
    folder, skipped = Path(folder), {Path(p).resolve() for p in skip}
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.resolve() not in skipped}


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
