"""Replacing an output folder: the new one is written beside it and swapped in.

Deleting an old output before writing the new one loses it when the new one fails halfway (a
refused input, a full disk, a kill), and deleting file by file follows a symlinked subfolder
into the user's own files. Instead the new output is written into a fresh hidden sibling folder;
only when it is complete does it take the old one's place (two renames), and the old folder is
then removed with ``shutil.rmtree``, which unlinks symlinks without following them. Nothing
outside the output folder is ever deleted, whatever a file inside it says.

Files of the user's inside the old folder (say a ``RUN.md`` beside a leaderboard) can be carried
into the new one: ``keep`` names them by relative path; they are moved, never copied or read.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.api.errors import DataError

T = TypeVar("T")


def replace_folder(target: Path, write: Callable[[Path], T],
                   keep: Callable[[str], bool] | None = None) -> T:
    """Call ``write(folder)`` on a fresh folder, then put that folder where ``target`` is.

    ``keep(relative_path)`` says which entries of an earlier ``target`` (files and symlinks,
    never followed) move into the new folder; without it the earlier folder goes whole. On any
    error the earlier folder is left as it was and the fresh one is removed.
    """
    final = Path(target).resolve()  # a symlinked output folder is replaced where it points
    if final.exists() and not final.is_dir():
        raise DataError(f"{target}: is a file, expected a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    new = _sibling(final, "new")
    new.mkdir()
    try:
        result = write(new)
        old = _swap(final, new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if old is not None:
        if keep is not None:
            _carry(old, final, keep)
        shutil.rmtree(old, ignore_errors=True)  # hidden and complete if it cannot be removed
    return result


def _sibling(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.synth2seg-{kind}-{secrets.token_hex(4)}"


def _swap(final: Path, new: Path) -> Path | None:
    """``new`` in ``final``'s place; the earlier folder (renamed aside), if it held anything."""
    if not final.exists():
        new.rename(final)
        return None
    if not any(final.iterdir()):  # keep an empty folder itself: a mount point, a shell's cwd
        for entry in new.iterdir():
            entry.rename(final / entry.name)
        new.rmdir()
        return None
    old = _sibling(final, "old")
    try:
        final.rename(old)
    except OSError as exc:
        raise DataError(f"{final}: cannot be replaced ({exc.strerror}); remove it or choose "
                        "another folder") from None
    try:
        new.rename(final)
    except BaseException:
        old.rename(final)
        raise
    return old


def _carry(old: Path, final: Path, keep: Callable[[str], bool], prefix: str = "") -> None:
    """Move the entries ``keep`` names from ``old`` into ``final`` (the new output wins a name
    both have); real subfolders are walked, symlinks moved as links."""
    with os.scandir(old) as entries:
        for entry in list(entries):
            name = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                _carry(Path(entry.path), final, keep, f"{name}/")
            elif keep(name):
                destination = final / name
                if _free(final, destination):
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(entry.path, destination)


def _free(final: Path, destination: Path) -> bool:
    """``destination`` names nothing yet and its parents are real folders (or absent)."""
    if destination.exists() or destination.is_symlink():
        return False
    for parent in destination.relative_to(final).parents:
        folder = final / parent
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return False
    return True
