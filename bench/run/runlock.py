"""One driver per run folder.

Two ``synth2seg run`` processes on the same folder would both train every cell and build every
sample set twice, writing over each other. The driver holds an exclusive ``flock`` on
``RUN/.lock`` for as long as it runs; the kernel drops it when the process ends, however it ends,
so a killed run never leaves a stale lock. The file holds the driver's PID so that a second
driver can say who holds the folder. Workers of an executor never take it: only drivers do.

The lock is taken first, before the config's data is read, so a second driver is refused at
once. A driver that fails before writing anything else leaves no folder behind: the folders
it created for the lock are removed again.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bench.api.errors import UserError

LOCK = ".lock"


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._file = None
        self._created: list[Path] = []  # folders made for the lock, deepest first

    def __enter__(self) -> RunLock:
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            self._created.append(folder)
            folder = folder.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 (held open for as long as the lock)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise UserError(f"{self.path.parent}: another synth2seg driver (PID {holder}) is "
                            "running in this run folder; wait for it or use another --out"
                            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, kind, *exc) -> None:
        if self._file is None:
            return
        if kind is not None and self._created and os.listdir(self.path.parent) == [LOCK]:
            self.path.unlink()  # failed before writing anything: leave no run folder behind
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None
        for folder in self._created if kind is not None else ():
            try:
                folder.rmdir()  # only while empty: nothing another process wrote is touched
            except OSError:
                break
