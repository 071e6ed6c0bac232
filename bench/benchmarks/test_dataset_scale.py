"""Datasets at real scale: peak memory of `data check` and `train`, and read speed, by case count.

`make bench`, or for the issue's figures (two sizes, the ratio checked):

    SYNTH2SEG_SCALE_CASES=40,400 .venv/bin/python -m pytest \
        bench/benchmarks/test_dataset_scale.py -m "" --benchmark-only -s

The cases are 1 mm brain volumes (153 x 189 x 163, one channel, ~23 MB as float32 + labels):
two phantom subjects at 1 mm, written under N ids with a different intensity offset each (so
the leakage guard sees N different subjects) into one pool folder; the dataset of N cases links
the pool's first N. ``SYNTH2SEG_SCALE_POOL`` keeps the pool between runs (it is ~7 MB a case
compressed; the cache adds ~24 MB a case, removed after each test).

Figures (printed, and in each benchmark's ``extra_info``):
- peak RSS (ru_maxrss of the child process) of ``synth2seg data check`` reading the folder the
  first time (building the cache) and again (from the cache), and of the in-memory reader
  (``load_dataset(cache=False)``, what every command did before) for comparison (up to
  ``IN_MEMORY_MAX_CASES``);
- peak RSS of ``synth2seg train --segmenter unet2d --preset tiny --set steps=2`` (cache warm);
- cases per second of the first read (building the cache), of later reads that touch every
  voxel, and of ``nib.load(...).get_fdata()`` of the same files; a later read opens no NIfTI.
With two sizes, the larger's peaks must be at most 1.3 x the smaller's and at most 4 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bench.data import load_dataset
from bench.data.phantom import PhantomConfig, make_phantom

CASES = [int(n) for n in os.environ.get("SYNTH2SEG_SCALE_CASES", "40").split(",")]
SHAPE = (153, 189, 163)
LIMIT_BYTES = 4 << 30
RATIO = 1.3
IN_MEMORY_MAX_CASES = 100
RESULTS: dict[tuple[str, int], int] = {}

_RSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")


def peak_rss(*cmd: str) -> int:
    """Peak resident memory in bytes of ``cmd`` run as a child process."""
    out = subprocess.run([sys.executable, "-c", _RSS, *cmd], check=True, capture_output=True,
                         text=True, env=os.environ.copy())
    return int(out.stdout.strip().splitlines()[-1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bench.cli.main import main; main()", *args]


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SYNTH2SEG_SCALE_POOL") or tmp_path_factory.mktemp("pool"))
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(max(CASES))
               if not (folder / "labelsTr" / f"case{i:04d}.nii.gz").is_file()]
    if missing:
        os.environ.setdefault("SYNTH2SEG_CACHE", str(tmp_path_factory.mktemp("phantom-cache")))
        subjects = make_phantom(PhantomConfig(subjects=2, resolution=1.0, seed=0))
        assert subjects[0].spatial_shape == SHAPE
        labels = subjects.labels
        for i in missing:
            subject = subjects[i % 2]
            image = subject.image[0] + np.float32(0.001 * (i + 1))
            affine = np.asarray(subject.affine)
            nib.save(nib.Nifti1Image(image, affine),
                     str(folder / "imagesTr" / f"case{i:04d}_0000.nii.gz"))
            nib.save(nib.Nifti1Image(subject.label, affine),
                     str(folder / "labelsTr" / f"case{i:04d}.nii.gz"))
        (folder / "labels.json").write_text(json.dumps({n: v for v, n in labels.items()}))
    return folder


def dataset(pool: Path, n: int, where: Path) -> Path:
    """The pool's first ``n`` cases as an nnU-Net v2 folder of links."""
    root = where / f"scale{n}"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        for src, dst in ((pool / "imagesTr" / f"case{i:04d}_0000.nii.gz",
                          root / "imagesTr" / f"case{i:04d}_0000.nii.gz"),
                         (pool / "labelsTr" / f"case{i:04d}.nii.gz",
                          root / "labelsTr" / f"case{i:04d}.nii.gz")):
            if not dst.exists():
                dst.symlink_to(src)
    meta = {"channel_names": {"0": "T1"}, "labels": json.loads((pool / "labels.json").read_text()),
            "numTraining": n, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SYNTH2SEG_CACHE", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _report(benchmark, name: str, n: int, value, unit: str) -> None:
    benchmark.extra_info[name] = value
    print(f"\n[scale {n}] {name}: {value:.3g} {unit}" if isinstance(value, float)
          else f"\n[scale {n}] {name}: {value} {unit}")


@pytest.mark.parametrize("n", CASES)
def test_data_check_peak_memory(benchmark, pool, cache, tmp_path, n):
    root = dataset(pool, n, tmp_path)
    first = benchmark.pedantic(lambda: peak_rss(*_cli("data", "check", str(root))), rounds=1,
                               iterations=1)
    later = peak_rss(*_cli("data", "check", str(root)))
    figures = [("data check, first read (MB)", first), ("data check, from the cache (MB)", later)]
    if n <= IN_MEMORY_MAX_CASES:  # ~23 MB a case: 400 would take 9 GB of a shared machine
        figures.append(("in-memory reader, as before (MB)", peak_rss(
            sys.executable, "-c", "import sys; from bench.data import load_dataset;"
            " load_dataset(sys.argv[1], cache=False)", str(root))))
    for name, value in figures:
        _report(benchmark, name, n, value / 2**20, "MB")
    RESULTS["data check", n] = max(first, later)
    assert max(first, later) <= LIMIT_BYTES


@pytest.mark.parametrize("n", CASES)
def test_train_peak_memory(benchmark, pool, cache, tmp_path, n):
    root = dataset(pool, n, tmp_path)
    load_dataset(root)  # the cache is built by the first command that reads the folder
    args = _cli("train", "--data", str(root), "--out", str(tmp_path / "train"), "--segmenter",
                "unet2d", "--preset", "tiny", "--set", "steps=2", "--device", "cpu",
                "--no-hd95")
    peak = benchmark.pedantic(lambda: peak_rss(*args), rounds=1, iterations=1)
    _report(benchmark, "train unet2d tiny steps=2 (MB)", n, peak / 2**20, "MB")
    RESULTS["train", n] = peak
    assert peak <= LIMIT_BYTES


@pytest.mark.parametrize("n", CASES)
def test_read_speed_against_nibabel(benchmark, pool, cache, tmp_path, monkeypatch, n):
    root = dataset(pool, n, tmp_path)
    start = time.perf_counter()
    load_dataset(root)
    first = n / (time.perf_counter() - start)

    def later():
        total = 0.0
        for case in load_dataset(root):  # every voxel touched, one case at a time
            total += float(case.image.sum()) + float(case.label.sum())
        return total

    with monkeypatch.context() as patch:
        patch.setattr(nib, "load", _no_nifti)
        start = time.perf_counter()
        benchmark.pedantic(later, rounds=1, iterations=1)
        warm = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(n):
        for path in (root / "imagesTr" / f"case{i:04d}_0000.nii.gz",
                     root / "labelsTr" / f"case{i:04d}.nii.gz"):
            nib.load(str(path)).get_fdata(dtype=np.float32)
    nifti = n / (time.perf_counter() - start)
    _report(benchmark, "first read, building the cache (cases/s)", n, first, "cases/s")
    _report(benchmark, "later reads, every voxel (cases/s)", n, warm, "cases/s")
    _report(benchmark, "nib.load + get_fdata of the same files (cases/s)", n, nifti, "cases/s")


def _no_nifti(*args, **kwargs):
    raise AssertionError("a read from the cache opened a NIfTI file")


def test_memory_does_not_grow_with_the_number_of_cases(benchmark):
    if len(CASES) < 2:
        pytest.skip("one size measured: set SYNTH2SEG_SCALE_CASES=40,400 for the ratio")
    small, large = min(CASES), max(CASES)

    def ratios():
        return {what: RESULTS[what, large] / RESULTS[what, small]
                for what in ("data check", "train")
                if (what, small) in RESULTS and (what, large) in RESULTS}

    found = benchmark.pedantic(ratios, rounds=1, iterations=1)
    for what, ratio in found.items():
        _report(benchmark, f"{what}: peak at {large} / peak at {small}", large, ratio, "x")
    assert found and all(r <= RATIO for r in found.values()), RESULTS

