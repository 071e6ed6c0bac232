"""Distances between two sets of feature vectors: the Fréchet distance (FID), KID, and
precision / recall / density / coverage (Naeem et al. 2020).

FID and KID are torchmetrics' implementations, fed with features extracted elsewhere through a
pass-through "feature extractor", so that one extraction serves every metric and any feature
space (Inception, an in-domain encoder, a test's fixed vectors) goes through the same code.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch
from torch import nn

from bench.api.seeding import seeded_global_rng


class _Given(nn.Module):
    """torchmetrics' feature slot, filled with features that are already extracted."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½) of two (N, D) feature sets (N ≥ 2 each)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _pair(real, fake, minimum=2)
    metric = FrechetInceptionDistance(feature=_Given(real.shape[1]), reset_real_features=False)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def kernel_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased MMD² with the cubic polynomial kernel, mean and sd over random subsets.

    ``subset_size`` is capped at the smaller set; with one subset covering both sets the value
    is exact (the estimate does not depend on the order of the features). The sd is NaN from a
    single subset: there is no spread to measure (torchmetrics reports 0.0).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _pair(real, fake, minimum=2)
    size = min(subset_size, len(real), len(fake))
    if size == len(real) == len(fake):  # every subset is the whole of both sets: one is exact
        subsets = 1
    with warnings.catch_warnings():  # "will save all extracted features": they are given
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets,
                                         subset_size=size, reset_real_features=False)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with seeded_global_rng(seed):  # torchmetrics draws its subsets from the global RNG
        mean, sd = metric.compute()
    return float(mean), float(sd) if subsets > 1 else float("nan")


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray,
                                      nearest_k: int = 5) -> dict[str, float]:
    """The ``prdc`` package's (Naeem et al.'s own) estimates on k-nearest-neighbour balls.

    Precision and density: how much of the fake set falls inside the real manifold (fidelity);
    recall and coverage: how much of the real manifold the fake set reaches (diversity). Each
    set needs at least ``nearest_k + 2`` vectors (the package partitions each vector's
    distances, its own zero included, at ``nearest_k + 1``).
    """
    from prdc import compute_prdc

    real, fake = _pair(real, fake, minimum=nearest_k + 2)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        values = compute_prdc(real.numpy(), fake.numpy(), nearest_k)
    return {name: float(value) for name, value in values.items()}


def _pair(real: np.ndarray, fake: np.ndarray, minimum: int) -> tuple[torch.Tensor, torch.Tensor]:
    real, fake = (torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in (real, fake))
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if min(len(real), len(fake)) < minimum:
        raise ValueError(f"need at least {minimum} feature vectors per set, got {len(real)} and "
                         f"{len(fake)}")
    return real, fake
