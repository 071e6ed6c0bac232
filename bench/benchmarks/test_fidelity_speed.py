"""Feature extraction throughput of the fidelity metrics: `make bench`.

Images per second for each extractor on random grey 64x64 images (``FIDELITY_BENCH_SIZE``),
batch 64, on CUDA when present, else the CPU. Speed does not depend on the weights, so Inception,
RadImageNet, MedicalNet and AlexNet are randomly initialised networks of the real architectures
(loaded through the same loading code as real weights, without the hash check). The baseline
measured in the same run is the in-domain encoder (the ``unet2d`` demo network at 96x96), the
metric that is always available: the ratios say what the others cost on top of it.
"""

import os
import time

import numpy as np
import pytest
import torch

from bench.run.experiment import build_segmenter
from metrics.distribution import frechet_distance, kernel_distance
from metrics.diversity import ALEXNET_FILE, MSSSIM, LPIPSDistance, mean_pairwise, random_pairs
from metrics.features import (
    INCEPTION_FILE,
    EncoderFeatures,
    InceptionFeatures,
    MedicalNetFeatures,
    RadImageNetFeatures,
    extract,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
N = int(os.environ.get("FIDELITY_BENCH_IMAGES", "256"))
SIZE = int(os.environ.get("FIDELITY_BENCH_SIZE", "64"))
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((N, 1, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random Inception and AlexNet weight files, named as the real ones."""
    from tests.conftest import random_weight_files

    folder = tmp_path_factory.mktemp("weights")
    paths = random_weight_files(folder)
    paths["inception"].rename(folder / INCEPTION_FILE)
    paths["alexnet"].rename(folder / ALEXNET_FILE)
    return folder


def test_radimagenet_features(benchmark, images):
    from torchvision.models import resnet50

    trunk = torch.nn.Sequential(*list(resnet50(weights=None).children())[:-2])
    features = RadImageNetFeatures(trunk.state_dict(), DEVICE)
    _rate(benchmark, lambda: extract(features, images), N, "RadImageNet ResNet-50")


def test_medicalnet_features(benchmark):
    from metrics.medicalnet import MedicalNetResNet10

    volumes = np.random.default_rng(0).random((4, 1, SIZE, SIZE, SIZE)).astype(np.float32)
    features = MedicalNetFeatures(MedicalNetResNet10().state_dict(), DEVICE)
    _rate(benchmark, lambda: extract(features, volumes, batch=1), len(volumes),
          f"MedicalNet ResNet-10 ({SIZE}^3 volumes)", "volumes")


def _rate(benchmark, work, count: int, name: str, per: str = "images") -> float:
    def timed() -> float:
        started = time.perf_counter()
        work()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        return count / (time.perf_counter() - started)

    timed()  # warm-up
    rate = benchmark.pedantic(timed, rounds=3, iterations=1)
    RESULTS[name] = rate
    benchmark.extra_info.update({"per_s": rate, "device": DEVICE, "size": SIZE})
    baseline = RESULTS.get("in-domain encoder")
    ratio = f"; time per image x{baseline / rate:.1f} the in-domain encoder's" \
        if baseline and per == "images" and name != "in-domain encoder" else ""
    print(f"\n{name} on {DEVICE}, {SIZE}x{SIZE}: {rate:.2f} {per}/s{ratio}")
    return rate


def test_baseline_in_domain_encoder(benchmark, images):
    segmenter = build_segmenter("unet2d", "demo")
    net = segmenter.build(1, 4)
    encoder = EncoderFeatures(net, tuple(segmenter.params.patch), DEVICE)
    _rate(benchmark, lambda: extract(encoder, images), N, "in-domain encoder")


def test_inception_features(benchmark, images, weights):
    inception = InceptionFeatures(weights / INCEPTION_FILE, DEVICE)
    _rate(benchmark, lambda: extract(inception, images), N, "Inception v3 (FID/KID)")


def test_lpips_pairs(benchmark, images, weights):
    distance = LPIPSDistance.load(weights / ALEXNET_FILE, DEVICE)
    pairs = random_pairs(N, N, seed=0)
    _rate(benchmark, lambda: mean_pairwise(distance, images, pairs), len(pairs), "LPIPS",
          "pairs")


def test_ms_ssim_pairs(benchmark, images):
    pairs = random_pairs(N, N, seed=0)
    measure = MSSSIM((SIZE, SIZE))
    _rate(benchmark, lambda: mean_pairwise(measure, images, pairs), len(pairs), "MS-SSIM",
          "pairs")


@pytest.mark.parametrize("distance", ["FID", "KID"])
def test_distances_of_1000_inception_features(benchmark, distance):
    """The distance itself, on 1200 vs 1000 2048-d vectors (KID: 100 subsets of 1000)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1200, 2048)), rng.normal(size=(1000, 2048)) + 0.1
    work = (lambda: frechet_distance(a, b)) if distance == "FID" else \
        (lambda: kernel_distance(a, b))
    _rate(benchmark, work, 1, f"{distance} of 1200 vs 1000 features", "computations")
