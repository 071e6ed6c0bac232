"""Executors: where cells run. The driver consumes ``(job, start time, rows or exception)``.

``local`` with several workers uses one process per slot (spawned, so CUDA is safe); with GPUs,
slots take the devices in turn. ``ray`` sends each cell to a Ray cluster as a task that asks for
a GPU when the cell runs on CUDA, retried when its worker dies. Workers never touch the store;
they need the run directory on storage every worker sees.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from bench.errors import ConfigError


def _slot_device(job, slot: int):
    import torch

    if job.device.startswith("cuda") and torch.cuda.device_count() > 1:
        job.device = f"cuda:{slot % torch.cuda.device_count()}"
    return job


def _run_in_worker(job):
    from bench.runner import run_cell

    return run_cell(job)


def local_pool_results(jobs, workers: int, progress, task):
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {}
        for slot, job in enumerate(jobs):
            job = _slot_device(job, slot)
            job.threads = job.threads or threads
            pending[pool.submit(_run_in_worker, job)] = (job, time.time())
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job, started = pending.pop(future)
                progress.update(task, description=f"cells · {job.cell.method}")
                error = future.exception()
                yield job, started, error if error is not None else future.result()


def ray_results(jobs, address: str | None, progress, task):
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'synth2seg[ray]'") from None
    import torch

    from bench.runner import run_cell

    env = {k: v for k, v in os.environ.items() if k.startswith("SYNTH2SEG_")}
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
             runtime_env={"env_vars": env} if env else None)
    remote = ray.remote(max_retries=2, retry_exceptions=False)(run_cell)
    pending = {}
    for job in jobs:
        # as many CPUs as the driver's torch threads, so cells compute as they would locally
        job.threads = job.threads or torch.get_num_threads()
        gpus = 1 if job.device.startswith("cuda") else 0
        options = {"num_gpus": gpus, "num_cpus": job.threads}
        pending[remote.options(**options).remote(job)] = (job, time.time())
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
