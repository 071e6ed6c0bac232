"""Where commands write: checked before any work starts, and never over a user's own files.

A dataset folder that synth2seg writes carries a small marker file. A non-empty folder without
it belongs to someone else and is refused; one with it is replaced only when the user asks for
it (``--overwrite``). Paths that cannot be written (a file where a folder is expected, a
read-only folder) are refused up front with one line instead of failing after the work is done.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bench.api.errors import UserError

MARKER = ".synth2seg-output"
COMPONENT = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def path_component(value, what: str) -> str:
    """``value`` as one folder name under a folder synth2seg chose (``runs/<name>``,
    ``leaderboards/<name>``): checked where it is used, since it may come from a file anyone
    could edit (a run's store). No separator, no absolute path, not ``.`` or ``..``."""
    text = value if isinstance(value, str) else ""
    if not COMPONENT.fullmatch(text) or set(text) == {"."}:
        raise UserError(f"{what} {str(value)[:80]!r} cannot name a folder: expected 1 to 128 "
                        "letters, digits, '_', '.' or '-', not only dots")
    return text


def check_out_dir(path: Path, option: str = "--out") -> None:
    """``path`` is a folder, or can be created as one, and can be written."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise UserError(f"{option} {path}: is a file, expected a folder")
        if path.resolve() == Path(path.resolve().anchor):
            raise UserError(f"{option} {path}: is the root of the file system; name a folder "
                            "for this output")
        _check_parent(path, option)
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise UserError(f"{option} {str(path)[:80]}...: {exc.strerror}") from None


def check_out_file(path: Path, suffixes: tuple[str, ...], option: str = "--out") -> None:
    """``path`` is a file with one of ``suffixes`` in a folder that can be written."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: expected a file ending in {', '.join(suffixes)}")
    try:
        if path.is_dir():
            raise UserError(f"{option} {path}: is a folder, expected a file")
        _check_parent(path.parent, option, for_file=path)
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise UserError(f"{option} {str(path)[:80]}...: {exc.strerror}") from None


def _check_parent(path: Path, option: str, for_file: Path | None = None) -> None:
    shown = for_file or path
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {shown}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {shown}: {existing} is not writable")


def claim_output(path: Path, overwrite: bool, option: str = "--out") -> None:
    """Refuse to write into a non-empty folder unless it is synth2seg's own (and asked to)."""
    path = Path(path)
    check_out_dir(path, option)
    if not path.is_dir() or not any(path.iterdir()):
        return
    if not (path / MARKER).is_file():
        raise UserError(f"{option} {path}: folder is not empty and was not written by "
                        "synth2seg; choose a new or empty folder")
    if not overwrite:
        raise UserError(f"{option} {path}: holds an earlier synth2seg dataset; add --overwrite "
                        "to replace it")


def mark_output(path: Path) -> None:
    """Mark ``path`` as synth2seg's own output (written before its contents)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("written by synth2seg; --overwrite may replace this folder\n")
