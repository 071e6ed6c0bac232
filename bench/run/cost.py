"""What a step costs: wall seconds and peak memory, recorded beside quality (as MAISI reports).

Peak host memory is the process's resident set size, sampled every 20 ms while the step runs
(``/proc/self/statm``; ``None`` where there is no /proc). On CUDA the peak GPU memory allocated
by PyTorch during the step is recorded as well.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float | None:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def measure(device: str = "cpu", interval: float = 0.02):
    """``with measure(device) as cost:`` fills ``cost`` with ``seconds``, ``peak_rss_mb`` and,
    on CUDA, ``peak_gpu_mb`` when the block ends."""
    cost: dict = {}
    peak = [rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            now = rss_mb()
            if now is not None and (peak[0] is None or now > peak[0]):
                peak[0] = now

    cuda = str(device).startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    try:
        yield cost
    finally:
        cost["seconds"] = time.perf_counter() - started
        stop.set()
        thread.join()
        end = rss_mb()
        cost["peak_rss_mb"] = None if peak[0] is None else max(peak[0], end or 0.0)
        if cuda:
            import torch

            cost["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
