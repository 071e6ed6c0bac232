"""Augmentation: what the transforms actually do to images and masks, measured over many draws.

Both implementations are held to the same specification: the per-sample MONAI transforms
(``augmentation``, the host path) and the batched tensor version (``BatchAugment``, the device
path). "Same" for the two paths means: for one input and many seeds, the distribution of each
measured effect (mask centroid per axis, mask size, image mean, spread and extremes) is the same
by a two-sample Kolmogorov-Smirnov test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from segmenters.augment import SHIFT, BatchAugment, augmentation

SIZES = {2: (40, 64), 3: (20, 24, 32)}
DRAWS = {2: 200, 3: 100}


def _blob(size, start, width=4):
    """A ``width``-voxel cube of 1 at ``start``: image and mask, channel first."""
    label = torch.zeros(1, *size)
    label[(slice(None), *[slice(s, s + width) for s in start])] = 1
    return label.clone(), label


def _host(transform, image, label, draws: int):
    out = [transform({"image": image.clone(), "label": label.clone()}) for _ in range(draws)]
    return (torch.stack([torch.as_tensor(o["image"]).as_subclass(torch.Tensor) for o in out]),
            torch.stack([torch.as_tensor(o["label"]).as_subclass(torch.Tensor) for o in out]))


def _device(image, label, draws: int, seed: int = 0):
    images, labels = [], []
    for start in range(0, draws, 50):
        n = min(50, draws - start)
        i, m = BatchAugment(image.dim() - 1)(image.expand(n, *image.shape).clone(),
                                             label.expand(n, *label.shape).clone(), seed + start)
        images.append(i)
        labels.append(m)
    return torch.cat(images), torch.cat(labels)


def _centroids(labels: torch.Tensor) -> np.ndarray:
    """(draws, axes) mask centroids in voxels; NaN where the mask left the image."""
    out = []
    for mask in labels[:, 0] > 0.5:
        where = mask.nonzero().double()
        out.append(where.mean(0).numpy() if len(where) else np.full(mask.dim(), np.nan))
    return np.array(out)


def _augmented(path: str, dims: int, image, label, seed: int = 0, size=None):
    draws = DRAWS[dims]
    if path == "host":
        return _host(augmentation(dims, seed, size or SIZES[dims]), image, label, draws)
    return _device(image, label, draws, seed)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("path", ["host", "device"])
def test_shift_augmentation_is_a_fraction_of_the_image_size(path, dims):
    """A blob at the exact centre is moved by flips, rotations and zoom by under a voxel: its
    centroid's displacement is the shift. Half of the draws are shifted (prob 0.5), uniformly
    within +-10 % of the size along each axis, so about a quarter move by more than 5 %."""
    size = np.array(SIZES[dims])
    image, label = _blob(tuple(size), [s // 2 - 2 for s in size])
    centre = (size - 1) / 2
    shifts = _centroids(_augmented(path, dims, image, label)[1]) - centre
    assert not np.isnan(shifts).any(), "a centred blob never leaves the image"
    largest = np.abs(shifts).max(0)
    assert (largest >= 0.8 * SHIFT * size).all() and (largest <= SHIFT * size + 1).all(), (
        f"largest shifts {largest} voxels, expected about {SHIFT * size} (10 % of {size})")
    moved = (np.abs(shifts) > SHIFT / 2 * size).mean(0)
    band = 4 * np.sqrt(0.25 * 0.75 / len(shifts))  # four binomial standard deviations
    assert (np.abs(moved - 0.25) < band).all(), (
        f"share of draws shifted by more than 5 % of the size: {moved}, expected about 0.25")


def _effects(image: torch.Tensor, label: torch.Tensor) -> dict[str, np.ndarray]:
    centroids = _centroids(label)
    centre = (np.array(label.shape[2:]) - 1) / 2
    effects = {}
    for a in range(centroids.shape[1]):  # the side tells flips, the distance shifts
        effects[f"centroid axis {a}"] = centroids[:, a]
        effects[f"centroid distance axis {a}"] = np.abs(centroids[:, a] - centre[a])
    flat = image.flatten(1)
    effects.update({"mask voxels": (label > 0.5).flatten(1).sum(1).double().numpy(),
                    "image mean": flat.mean(1).double().numpy(),
                    "image std": flat.std(1).double().numpy(),
                    "image max": flat.max(1).values.double().numpy(),
                    "image min": flat.min(1).values.double().numpy()})
    return {k: v[~np.isnan(v)] for k, v in effects.items()}


def _subject(dims: int):
    """A mask 1 voxel off the centre (flips move it by 2 voxels, less than most shifts) on a
    smooth, z-scored-like background."""
    size = SIZES[dims]
    _, label = _blob(size, [s // 2 - 2 for s in size], width=6)
    ramp = sum(torch.linspace(-1, 1, s).view(*[-1 if i == a else 1 for i in range(dims)])
               for a, s in enumerate(size))
    return (ramp + 2 * label[0])[None], label


@pytest.mark.parametrize("dims", [2, 3])
def test_device_augmentation_has_the_distribution_of_the_monai_transforms(dims):
    image, label = _subject(dims)
    host = _effects(*_augmented("host", dims, image, label, seed=1))
    device = _effects(*_augmented("device", dims, image, label, seed=2))
    for name in host:
        p = ks_2samp(host[name], device[name]).pvalue
        assert p > 0.001, f"{name}: host and device augmentation differ (KS p = {p:.2g})"
    # The comparison has the power to see a real difference: the old shifts, 0.1 voxel.
    old = _effects(*_augmented("host", dims, image, label, seed=1, size=(1,) * dims))
    assert min(ks_2samp(old[k], device[k]).pvalue for k in old if "distance" in k) < 0.001


def test_batch_augment_is_a_function_of_its_seed():
    image, label = _subject(2)
    batch = image.expand(8, *image.shape).clone(), label.expand(8, *label.shape).clone()
    first, again = BatchAugment(2)(*batch, seed=5), BatchAugment(2)(*batch, seed=5)
    other = BatchAugment(2)(*batch, seed=6)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])
    assert set(first[1].unique().tolist()) <= {0.0, 1.0}, "masks stay labels (nearest sampling)"
