"""One cell per GPU: which GPU each local worker and each Ray task gets."""

from __future__ import annotations

import multiprocessing
import os
import time
from types import SimpleNamespace

import pytest
import torch

from bench.run.executors import gpu_slots, ray_options, worker_pool

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_each_local_worker_gets_its_own_gpu_when_there_are_as_many_gpus():
    assert gpu_slots("cuda", 4, None, count=4) == ["0", "1", "2", "3"]


def test_more_workers_than_gpus_share_them_in_turn():
    assert gpu_slots("cuda", 3, None, count=2) == ["0", "1", "0"]


def test_gpus_are_the_ids_the_driver_was_given():
    assert gpu_slots("cuda", 2, "5,7", count=2) == ["5", "7"]


@pytest.mark.parametrize("device, count", [("cpu", 4), ("cuda:1", 4), ("cuda", 0)])
def test_workers_stay_unpinned_off_cuda_or_on_a_named_gpu(device, count):
    assert gpu_slots(device, 2, None, count) is None


def _visible(barrier):
    barrier.wait()  # holds this worker until the other one runs a task too
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_worker_processes_are_pinned_before_they_run_a_cell():
    # A barrier for two, not a sleep: however slowly the second worker starts, neither task can
    # finish before both workers hold one, so each worker shows its GPU.
    with multiprocessing.Manager() as manager, worker_pool(2, ["3", "5"]) as pool:
        barrier = manager.Barrier(2, timeout=120)
        seen = dict(pool.map(_visible, [barrier, barrier]))
    assert sorted(seen.values()) == ["3", "5"], f"worker pid -> visible GPU: {seen}"


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_ray_asks_one_gpu_per_cuda_cell_and_runs_it_on_the_granted_one(device):
    job = SimpleNamespace(device=device, threads=3)
    assert ray_options(job) == {"num_gpus": 1, "num_cpus": 3}
    assert job.device == "cuda", "inside the task Ray's GPU is the only visible one"


def test_ray_asks_no_gpu_for_cpu_cells():
    assert ray_options(SimpleNamespace(device="cpu", threads=2)) == {"num_gpus": 0, "num_cpus": 2}


def _cuda_view(_):
    time.sleep(0.5)
    return (os.environ.get("CUDA_VISIBLE_DEVICES"), torch.cuda.device_count(),
            torch.zeros(1, device="cuda").device.index)


@pytest.mark.gpu
@needs_cuda
def test_local_workers_see_one_gpu_each_on_a_gpu_machine():
    count = torch.cuda.device_count()
    gpus = gpu_slots("cuda", count, os.environ.get("CUDA_VISIBLE_DEVICES"), count)
    with worker_pool(count, gpus) as pool:
        views = list(pool.map(_cuda_view, range(2 * count)))
    assert {v[0] for v in views} == set(gpus)
    assert all(v[1] == 1 and v[2] == 0 for v in views), views


@pytest.mark.gpu
@needs_cuda
def test_ray_task_gets_one_gpu_on_a_gpu_machine():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        job = SimpleNamespace(device="cuda", threads=1)

        def probe():
            return ray.get_gpu_ids(), torch.cuda.device_count(), torch.cuda.is_available()

        ids, count, available = ray.get(ray.remote(probe).options(**ray_options(job)).remote())
        assert len(ids) == 1 and count == 1 and available
    finally:
        ray.shutdown()



def test_executors_are_looked_up_by_name_and_an_unknown_one_is_refused():
    from bench.api.errors import ConfigError
    from bench.run.executors import EXECUTORS, get_executor

    assert get_executor("local") is EXECUTORS["local"]
    with pytest.raises(ConfigError, match="executor 'slurm': expected local or ray"):
        get_executor("slurm")
