"""Worker processes read what the driver prepared: a cell run in a local worker process or a Ray
task opens no NIfTI file and resamples no case, however many cells and workers there are."""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest
from rich.console import Console

from bench.data import write_nnunet
from bench.data.phantom import PhantomConfig, make_phantom
from bench.run import executors
from bench.run.config import load_config
from bench.run.runner import Runner
from bench.run.store import Store

# The folder is stored at 4 mm; the run trains at 4 x 4 x 8 mm, so every case is resampled.
TARGET = [4.0, 4.0, 8.0]


def refuse_reading_again() -> None:
    """In a worker process: opening a NIfTI file or resampling a case fails the cell, saying
    which (the worker's cell error is what the test shows). Bringing a prediction back to its
    stored grid (nearest neighbour, order 0) is every cell's own work and stays allowed."""
    import nibabel
    from nnunetv2.preprocessing.resampling import default_resampling

    def opened(*args, **kwargs):
        raise AssertionError("a worker opened a NIfTI file")

    resample = default_resampling.resample_data_or_seg_to_shape

    def resampled(*args, order=3, **kwargs):
        if order != 0:
            raise AssertionError("a worker resampled a case")
        return resample(*args, order=order, **kwargs)

    nibabel.load = opened
    default_resampling.resample_data_or_seg_to_shape = resampled


def _try_nifti(path: str) -> str:
    import nibabel

    try:
        nibabel.load(path)
    except AssertionError as exc:
        return str(exc)
    return "read"


@pytest.fixture(scope="module")
def nifti_dir(tmp_path_factory):
    """Four subjects no other fixture has, as NIfTI files in the nnU-Net v2 layout, and beside
    them a test set of two others (a folder of its own, resampled only to be predicted)."""
    folder = tmp_path_factory.mktemp("nifti")
    write_nnunet(make_phantom(PhantomConfig(subjects=2, resolution=4.0, seed=12)),
                 folder / "other")
    return write_nnunet(make_phantom(PhantomConfig(subjects=4, resolution=4.0, seed=11)),
                        folder / "ds")


def _config(dataset):
    return load_config({"name": "workers", "dataset": str(dataset),
                        "split": {"val": 0.0, "test": 0.25, "seed": 0},
                        "test_sets": {"other": str(dataset.parent / "other")},
                        "target_spacing": TARGET, "strategies": ["real"],
                        "segmenters": [{"name": "unet2d", "preset": "tiny"}], "seeds": [0, 1],
                        "metrics": ["dice"], "fidelity": {"enabled": False}, "device": "cpu"})


def _refusing_pool(workers: int, gpus) -> ProcessPoolExecutor:
    """The local executor's worker processes (spawned), each refusing to read again."""
    return ProcessPoolExecutor(max_workers=workers, initializer=refuse_reading_again,
                               mp_context=multiprocessing.get_context("spawn"))


def _assert_every_cell_done(run_dir) -> None:
    store = Store(run_dir / "results.sqlite")
    try:
        cells = store.cells()
    finally:
        store.close()
    assert len(cells) == 2, cells
    assert set(cells.status) == {"done"}, cells.error.tolist()


def test_local_worker_processes_read_the_cache_not_nifti(nifti_dir, tmp_path, monkeypatch):
    with _refusing_pool(1, None) as pool:  # the refusal bites in a worker process
        assert pool.submit(_try_nifti, str(next(nifti_dir.rglob("*.nii.gz")))).result() == \
            "a worker opened a NIfTI file"
    monkeypatch.setattr(executors, "worker_pool", _refusing_pool)
    run_dir = tmp_path / "local"
    Runner(_config(nifti_dir), run_dir, workers=2, console=Console(file=io.StringIO())).run()
    _assert_every_cell_done(run_dir)


def test_ray_tasks_read_the_cache_not_nifti(nifti_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    # Ray workers cannot import this test module (the tests package is not on their path): its
    # functions travel by value, not by reference.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SYNTH2SEG_CACHE": os.environ["SYNTH2SEG_CACHE"]},
                          "worker_process_setup_hook": refuse_reading_again})
    try:
        nifti = str(next(nifti_dir.rglob("*.nii.gz")))
        assert ray.get(ray.remote(_try_nifti).remote(nifti)) == "a worker opened a NIfTI file"
        run_dir = tmp_path / "ray"
        Runner(_config(nifti_dir), run_dir, executor="ray",
               console=Console(file=io.StringIO())).run()
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    _assert_every_cell_done(run_dir)
