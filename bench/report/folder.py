"""The folder a report or a stats command writes its tables into, and what it may replace there.

A folder is the report's when it is empty, absent, or holds ``.report-files``, the list of what
the last report (or ``stats``) wrote there; any other non-empty folder belongs to the user and is
refused before any work starts, so ``--out`` never replaces a user's ``index.html`` or CSVs.

The new tables are written beside the old folder and swapped in
(:func:`bench.data.replace.replace_folder`), so a report that fails leaves the old one whole.
Files the user added to the folder (a ``RUN.md``, notes in ``summaries/``) move into the new one.
``.report-files`` is only ever compared with names found inside the folder, never used as a
path: whatever it says, nothing outside the folder is deleted and no symlink is followed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from bench.api.errors import UserError
from bench.data.outputs import check_out_dir
from bench.data.replace import replace_folder

RECORD = ".report-files"  # what the last report wrote: replaced by the next one, nothing else


def claim_folder(out: Path, option: str = "--out") -> None:
    """Refuse a non-empty ``out`` that holds no earlier report."""
    out = Path(out)
    check_out_dir(out, option)
    if out.is_dir() and any(out.iterdir()) and not (out / RECORD).is_file():
        raise UserError(f"{option} {out}: folder is not empty and was not written by synth2seg "
                        f"(it has no {RECORD}); choose a new or empty folder")


def write_folder(out: Path, write: Callable[[Path], dict[str, Path]],
                 option: str = "--out") -> dict[str, Path]:
    """Run ``write(folder)`` (it returns the files it wrote, by role) into a fresh folder, record
    them, and swap the folder in for ``out``; returns the files at their place in ``out``."""
    out = Path(out)
    claim_folder(out, option)
    earlier = _recorded(out)

    def keep(name: str) -> bool:
        """The user's own: neither listed by the last report nor one of its summaries."""
        path = PurePosixPath(name)
        ours = name in earlier or name == RECORD or (
            path.parts[0] == "summaries" and path.suffix == ".json")
        return not ours

    def write_and_record(folder: Path) -> dict[str, str]:
        names = {role: Path(path).relative_to(folder).as_posix()
                 for role, path in write(folder).items()}
        (folder / RECORD).write_text("".join(f"{name}\n" for name in sorted(names.values())))
        return names

    names = replace_folder(out, write_and_record, keep)
    return {role: out / name for role, name in names.items()}


def _recorded(out: Path) -> set[str]:
    """The names the last report listed: text compared with names, never a path (a symlinked,
    unreadable or absent record lists none; at most 1 MB of it is read)."""
    record = out / RECORD
    if record.is_symlink() or not record.is_file():
        return set()
    try:
        with record.open("rb") as handle:
            return set(handle.read(1 << 20).decode(errors="replace").splitlines())
    except OSError:
        return set()
