"""Content hashes of finished artifacts: a damaged file is found when it is used, not trusted.

When an artifact (a generator fit, a sample set, a cell's weights) is finished, the SHA-256 of
every file in its folder is recorded in a small JSON file. Before a finished artifact is reused,
the folder is hashed again; a file that is missing, truncated or changed makes the artifact
unfinished, so it is rebuilt instead of silently feeding wrong numbers into a leaderboard.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FILES = "files"  # the key of the record that holds {relative path: sha256}


def digest(folder: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (except ``skip``), by path relative to it."""
    folder, skipped = Path(folder), {Path(p).resolve() for p in skip}
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.resolve() in skipped:
            continue
        sha = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        out[path.relative_to(folder).as_posix()] = sha.hexdigest()
    return out


def seal(folder: Path, record: Path, info: dict | None = None) -> None:
    """Write ``record`` (JSON: ``info`` plus the digest of ``folder``), atomically, last."""
    record = Path(record)
    payload = {**(info or {}), FILES: digest(folder, skip=(record,))}
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(record)


def damage(folder: Path, record: Path) -> str | None:
    """Why ``folder`` no longer matches ``record`` (a missing, truncated or changed file), or
    None when it does. A record without a digest (written before digests were kept) cannot be
    checked and counts as intact."""
    try:
        recorded = json.loads(Path(record).read_text()).get(FILES)
    except (OSError, ValueError, AttributeError):
        return f"{record} is unreadable"
    if recorded is None:
        return None
    found = digest(folder, skip=(Path(record),))
    for name, sha in recorded.items():
        if name not in found:
            return f"{Path(folder) / name} is missing"
        if found[name] != sha:
            return f"{Path(folder) / name} changed since it was finished"
    return None
