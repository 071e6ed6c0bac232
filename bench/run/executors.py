"""Executors: where cells run. The driver consumes ``(job, start time, rows or exception)``.

``local`` with several workers uses one process per slot (spawned, so CUDA is safe); on device
``cuda`` each worker process is pinned to one GPU (``CUDA_VISIBLE_DEVICES``), the workers taking
the visible GPUs in turn, so a GPU runs one cell at a time when there are as many workers as
GPUs. ``ray`` sends each cell to a Ray cluster as a task that asks for one GPU when the cell runs
on CUDA (Ray then pins the task to it), retried when its worker dies. Workers never touch the store;
they need the run directory on storage every worker sees.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from bench.api.errors import ConfigError
from bench.run.rundata import RunData
from bench.run.worker import run_cell


@dataclass
class ExecutorOptions:
    """What an executor may use: local worker slots, a Ray address, the driver's loaded data."""

    workers: int = 1
    address: str | None = None
    data: RunData | None = None  # only an in-process executor can use it


def gpu_slots(device: str, workers: int, visible: str | None, count: int) -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` for each local worker, or None to leave them unpinned.

    Only ``cuda`` is spread: ``cuda:N`` names one GPU for every cell. ``visible`` is the driver's
    own ``CUDA_VISIBLE_DEVICES`` (its ids are the ones to hand out), ``count`` the GPUs it sees.
    """
    if device != "cuda" or count < 1:
        return None
    ids = [i.strip() for i in (visible or "").split(",") if i.strip()] or \
        [str(i) for i in range(count)]
    ids = ids[:count]
    return [ids[w % len(ids)] for w in range(workers)]


def _pin(gpus) -> None:
    """Worker initializer: take the next GPU id, before anything in the process touches CUDA."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()


def worker_pool(workers: int, gpus: list[str] | None) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")
    if gpus is None:
        return ProcessPoolExecutor(max_workers=workers, mp_context=context)
    queue = context.Queue()
    for gpu in gpus:
        queue.put(gpu)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_pin,
                               initargs=(queue,))


def inline_results(jobs, options: ExecutorOptions, progress, task):
    """Cells one after the other in the driver's process, on the data it already loaded."""
    for job in jobs:
        progress.update(task, description=f"cells · {job.cell.method}")
        started = time.time()
        try:
            yield job, started, run_cell(job, options.data)
        except Exception as exc:  # a failed cell is recorded; the run goes on
            yield job, started, exc


def local_results(jobs, options: ExecutorOptions, progress, task):
    """One worker process per slot; a single slot runs in the driver instead."""
    if options.workers <= 1:
        yield from inline_results(jobs, options, progress, task)
        return
    import torch

    workers = options.workers
    jobs = list(jobs)
    threads = max(1, (os.cpu_count() or 1) // workers)
    gpus = gpu_slots(jobs[0].device if jobs else "cpu", workers,
                     os.environ.get("CUDA_VISIBLE_DEVICES"), torch.cuda.device_count())
    with worker_pool(workers, gpus) as pool:
        pending = {}
        for job in jobs:
            job.threads = job.threads or threads
            pending[pool.submit(run_cell, job)] = (job, time.time())
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job, started = pending.pop(future)
                progress.update(task, description=f"cells · {job.cell.method}")
                error = future.exception()
                yield job, started, error if error is not None else future.result()


def ray_options(job) -> dict:
    """One GPU per cell on CUDA. Ray makes the GPU it grants the task's only visible one, so the
    cell runs on ``cuda`` whichever index the driver named."""
    if job.device.startswith("cuda"):
        job.device = "cuda"
        return {"num_gpus": 1, "num_cpus": job.threads}
    return {"num_gpus": 0, "num_cpus": job.threads}


def ray_results(jobs, options: ExecutorOptions, progress, task):
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'synth2seg[ray]'") from None
    import torch

    env = {k: v for k, v in os.environ.items() if k.startswith("SYNTH2SEG_")}
    ray.init(address=options.address, ignore_reinit_error=True, log_to_driver=False,
             runtime_env={"env_vars": env} if env else None)
    remote = ray.remote(max_retries=2, retry_exceptions=False)(run_cell)
    pending = {}
    for job in jobs:
        # as many CPUs as the driver's torch threads, so cells compute as they would locally
        job.threads = job.threads or torch.get_num_threads()
        pending[remote.options(**ray_options(job)).remote(job)] = (job, time.time())
    while pending:
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            job, started = pending.pop(ref)
            progress.update(task, description=f"cells · {job.cell.method}")
            try:
                yield job, started, ray.get(ref)
            except Exception as exc:
                cause = getattr(exc, "cause", None)
                yield job, started, cause if isinstance(cause, BaseException) else exc


EXECUTORS = {"local": local_results, "ray": ray_results}


def get_executor(name: str):
    """The executor called ``name``: ``(jobs, options, progress, task)`` → results as cells end."""
    if name not in EXECUTORS:
        raise ConfigError(f"executor '{name}': expected {' or '.join(EXECUTORS)}")
    return EXECUTORS[name]
