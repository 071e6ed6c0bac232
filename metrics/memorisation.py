"""Memorisation: do synthetic samples sit closer to a training sample than new real data does?

For every synthetic sample, the distance to its nearest real *training* sample is divided by the
median distance from real *held-out* samples to their nearest training sample, the distance an
unseen real image typically keeps. A ratio below ``threshold`` (default 1/3) marks a near-copy;
a generator that returns its training images has ratios of 0. Distances are Euclidean between
thumbnails (each sample resized to at most 32 pixels per axis and standardised to zero mean and
unit variance, so 1 − correlation is what they measure), which needs no weights and no training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

THUMBNAIL = 32


@dataclass
class Memorisation:
    near_copies: float  # fraction of synthetic samples with ratio < threshold
    median_ratio: float
    ratios: np.ndarray


def thumbnails(images: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """(N, C, *spatial) → (N, D): area-resized to ≤ ``size`` per axis, each row standardised."""
    x = torch.as_tensor(images, dtype=torch.float32)
    target = [min(size, s) for s in x.shape[2:]]
    x = F.adaptive_avg_pool2d(x, target) if x.ndim == 4 else F.adaptive_avg_pool3d(x, target)
    flat = x.flatten(1)
    flat = (flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)
    return flat.double().numpy()


def nearest_distances(queries: np.ndarray, references: np.ndarray, chunk: int = 1024
                      ) -> np.ndarray:
    """For each query row, the Euclidean distance to its nearest reference row."""
    refs = torch.as_tensor(references)
    out = [torch.cdist(torch.as_tensor(queries[i:i + chunk]), refs).min(1).values
           for i in range(0, len(queries), chunk)]
    return torch.cat(out).numpy()


def memorisation(train: np.ndarray, heldout: np.ndarray, synthetic: np.ndarray,
                 threshold: float = 1 / 3) -> Memorisation:
    """Near-copy fraction of ``synthetic`` thumbnails against ``train``, scaled by ``heldout``."""
    reference = np.median(nearest_distances(heldout, train))
    if reference <= 0:
        raise ValueError("held-out samples coincide with training samples: no scale to judge by")
    ratios = nearest_distances(synthetic, train) / reference
    return Memorisation(float(np.mean(ratios < threshold)), float(np.median(ratios)), ratios)
