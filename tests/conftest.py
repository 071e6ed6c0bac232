"""Shared fixtures: a small phantom built once per session, in a throw-away cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import write_nnunet
from bench.data.phantom import PhantomConfig, make_phantom


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never read or write the user's phantom cache, nor see weights in their torch hub
    cache (which would turn on Inception and LPIPS: CI machines have none), nor download."""
    os.environ["SYNTH2SEG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch-home"))
    os.environ["SYNTH2SEG_OFFLINE"] = "1"  # tests that fetch serve their files from file://


@pytest.fixture(scope="session")
def phantom():
    return make_phantom(PhantomConfig(subjects=3, seed=7))


@pytest.fixture(scope="session")
def lesion_phantom():
    return make_phantom(PhantomConfig(subjects=3, seed=3, lesions=True, channels=("T1", "FLAIR")))


@pytest.fixture(scope="session")
def sagittal_slabs(phantom):
    """The phantom acquired in 8 mm sagittal slabs (every fourth slice along axis 0, 2 mm in
    plane), with its geometry plan: an anisotropic dataset whose slicing axis is 0."""
    from bench.api.case import Case
    from bench.data import geometry

    cases = [Case(c.id, c.image[:, ::4].copy(), c.label[::4].copy(),
                  (4 * c.spacing[0], *c.spacing[1:]), meta=dict(c.meta)) for c in phantom]
    slabs = phantom.replace(cases)
    plan = geometry.plan(slabs)
    assert plan.slice_axis == 0 and plan.spacing == (8.0, 2.0, 2.0)  # nothing is resampled
    return geometry.apply(slabs, plan)


@pytest.fixture(scope="session")
def phantom_dir(phantom, tmp_path_factory) -> Path:
    """A valid nnU-Net v2 dataset on disk; tests copy it before damaging it."""
    return write_nnunet(phantom.subset([0, 1]), tmp_path_factory.mktemp("ds") / "phantom")


@pytest.fixture(scope="session")
def other_phantom_dir(tmp_path_factory) -> Path:
    """Two subjects that none of the fixtures above contains: a test set or synthetic data
    that the leakage guard lets through beside ``phantom3_dir``."""
    return write_nnunet(make_phantom(PhantomConfig(subjects=2, seed=8)),
                        tmp_path_factory.mktemp("other") / "other")


@pytest.fixture(scope="session")
def phantom3_dir(phantom, tmp_path_factory) -> Path:
    """Three subjects: enough for a train / validation / test split."""
    return write_nnunet(phantom, tmp_path_factory.mktemp("ds3") / "phantom3")


@pytest.fixture(scope="session")
def lesion_dir(lesion_phantom, tmp_path_factory) -> Path:
    """Other labels (tumour, oedema) and other channels (T1, FLAIR) than ``phantom3_dir``."""
    return write_nnunet(lesion_phantom, tmp_path_factory.mktemp("dsl") / "lesions")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess: exit codes and stderr as a user sees them."""
    code = "import sys; from bench.cli.main import main; sys.argv[0] = 'synth2seg'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "COLUMNS": "200"})


def call_cli(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same entry point in this process: much faster where imports dominate."""
    from bench.cli.main import main

    argv, sys.argv = sys.argv, ["synth2seg", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache, fetching allowed (the suite runs offline otherwise); the
    ``checkpoints`` folder where fetched weights land."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("SYNTH2SEG_OFFLINE", raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def pin_weights(monkeypatch, key: str, path: Path):
    """Point ``metrics.weights.WEIGHTS[key]`` at a local file (a ``file://`` URL) and pin its
    SHA-256, as the real entry pins the published file's: tests fetch and verify random weights
    of the real architectures, never the internet."""
    import dataclasses

    from metrics.weights import WEIGHTS, sha256_of

    weight = dataclasses.replace(WEIGHTS[key], url=Path(path).resolve().as_uri(),
                                 sha256=sha256_of(path), member=None)
    monkeypatch.setitem(WEIGHTS, key, weight)
    return weight


def random_weight_files(folder: Path) -> dict[str, Path]:
    """Random weights of the real architectures, saved in each published file's layout."""
    import torch
    from torch import nn
    from torch_fidelity import feature_extractor_inceptionv3 as fe
    from torchvision.models import alexnet, resnet50

    from metrics.medicalnet import MedicalNetResNet10

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    original = fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None
    try:
        inception = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict = original
    trunk = nn.Sequential(*list(resnet50(weights=None).children())[:-2])
    states = {
        "inception": inception.state_dict(),
        # LPIPS reads only the convolutional trunk of torchvision's file
        "alexnet": {k: v for k, v in alexnet(weights=None).state_dict().items()
                    if k.startswith("features.")},
        "radimagenet": {f"backbone.{k}": v for k, v in trunk.state_dict().items()},
        "medicalnet": {"state_dict": {f"module.{k}": v
                                      for k, v in MedicalNetResNet10().state_dict().items()}},
    }
    paths = {}
    for key, state in states.items():
        paths[key] = folder / f"{key}.pth"
        torch.save(state, paths[key])
    return paths
