"""Classical augmentation as one switch, in two implementations of one distribution.

Spatial: flips, small rotations, shifts and zoom (the set of Vu et al., Table 1). Intensity: bias
field, gamma contrast and Gaussian noise (the brainSPADE set). Randomness comes from the seed.

``augmentation`` applies MONAI dictionary transforms to one sample at a time (the host path);
``BatchAugment`` draws the same parameters from the same ranges and applies them to a whole batch
where it lives, CPU or GPU, with batched affine grids and tensor operations (the device path).
``tests/segmenters/test_augment.py`` checks that both produce the same distribution of images and
masks.

The other named sets (Vu et al., brainSPADE, nnU-Net, MONAI's standard; data in
:mod:`bench.api.augment_sets`) run on the host path through ``augmentation_set``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from bench.api.augment_sets import AUGMENTATION_SETS, AugmentationSet

KEYS = ("image", "label")
FLIP_PROB = 0.5
AFFINE_PROB = 0.5
ROTATE = math.radians(15)  # each angle uniform in +-15 degrees
SHIFT = 0.1  # fraction of the image size along each axis, uniform in +-10 %
ZOOM = 0.1  # scale factor uniform in 1 +- 0.1 along each axis
INTENSITY_PROB = 0.3
BIAS_COEFF = (0.0, 0.1)
BIAS_DEGREE = 3  # MONAI's default
GAMMA = (0.7, 1.5)
NOISE_STD = 0.02  # the noise's standard deviation is drawn uniformly in [0, NOISE_STD], as MONAI


def shift_voxels(size: Sequence[int]) -> list[float]:
    """MONAI's ``translate_range`` is in voxels: the fractional shift converted per axis."""
    return [SHIFT * s for s in size]


def augmentation(spatial_dims: int, seed: int, size: Sequence[int]) -> Compose:
    """Per-sample MONAI transforms for samples of spatial ``size`` (the training patch)."""
    if len(size) != spatial_dims:
        raise ValueError(f"size {tuple(size)} is not {spatial_dims}D")
    flips = [RandFlipd(KEYS, prob=FLIP_PROB, spatial_axis=axis) for axis in range(spatial_dims)]
    transform = Compose([
        *flips,
        RandAffined(KEYS, prob=AFFINE_PROB, rotate_range=[ROTATE] * (1 if spatial_dims == 2 else 3),
                    translate_range=shift_voxels(size), scale_range=[ZOOM] * spatial_dims,
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandBiasFieldd("image", prob=INTENSITY_PROB, coeff_range=BIAS_COEFF, degree=BIAS_DEGREE),
        RandAdjustContrastd("image", prob=INTENSITY_PROB, gamma=GAMMA),
        RandGaussianNoised("image", prob=INTENSITY_PROB, std=NOISE_STD),
    ])
    transform.set_random_state(seed=seed)
    return transform


def augmentation_set(spatial_dims: int, seed: int, name: str = "default",
                     patch: Sequence[int] | None = None) -> Compose | None:
    """The transforms of set ``name`` for ``spatial_dims``-D samples of shape ``patch``.

    ``patch`` turns the set's shift fraction into pixels (MONAI translates by pixels); without
    it no shift is applied. Returns None for the set ``none``.
    """
    if name == "default":
        return augmentation(spatial_dims, seed, patch)
    spec = AUGMENTATION_SETS[name]
    if spec is None:
        return None
    transform = Compose(_transforms(spec, spatial_dims, patch))
    transform.set_random_state(seed=seed)
    return transform


class BatchAugment:
    """``augmentation`` for a batch ``(N, C, *spatial)`` on its own device, in one pass per kind.

    Parameters (flips, angles, shifts, gammas...) are drawn on the CPU from the seed, so a batch
    gets the same parameters on every device; the noise is drawn on the batch's device.
    """

    def __init__(self, spatial_dims: int):
        self.spatial_dims = spatial_dims

    def __call__(self, image: torch.Tensor, label: torch.Tensor, seed: int):
        rng = torch.Generator().manual_seed(seed)
        image, label = self.flip(image, label, rng)
        image, label = self.affine(image, label, rng)
        return self.intensity(image, rng), label

    def flip(self, image, label, rng):
        n, dims = image.shape[0], self.spatial_dims
        for axis in range(dims):
            chosen = _chosen(n, FLIP_PROB, rng).to(image.device).view(-1, *[1] * (dims + 1))
            image = torch.where(chosen, image.flip(2 + axis), image)
            label = torch.where(chosen, label.flip(2 + axis), label)
        return image, label

    def affine(self, image, label, rng):
        n, size = image.shape[0], image.shape[2:]
        picked = _chosen(n, AFFINE_PROB, rng).nonzero()[:, 0]
        if len(picked) == 0:
            return image, label
        theta = _normalised(_voxel_affines(len(picked), size, rng), size).to(image)
        where = picked.to(image.device)
        grid = F.affine_grid(theta, [len(picked), 1, *size], align_corners=False)
        image, label = image.clone(), label.clone()
        image[where] = F.grid_sample(image[where], grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=False)
        label[where] = F.grid_sample(label[where].float(), grid, mode="nearest",
                                     padding_mode="zeros", align_corners=False).to(label.dtype)
        return image, label

    def intensity(self, image, rng):
        n, dims, size = image.shape[0], self.spatial_dims, image.shape[2:]
        shape = (n, *[1] * (dims + 1))
        # bias field: exp of a sum of Legendre products with coefficients in BIAS_COEFF
        terms = _legendre_terms(size, image.device)  # (T, *size)
        biased = _chosen(n, INTENSITY_PROB, rng)
        coeff = torch.empty(n, len(terms)).uniform_(*BIAS_COEFF, generator=rng) * biased[:, None]
        field = torch.einsum("nt,t...->n...", coeff.to(image), terms).unsqueeze(1)
        image = image * field.exp()
        # gamma contrast over each image's own range
        gamma = torch.where(_chosen(n, INTENSITY_PROB, rng),
                            torch.empty(n).uniform_(*GAMMA, generator=rng), torch.ones(n))
        flat = image.flatten(1)
        low, high = flat.min(1).values.view(shape), flat.max(1).values.view(shape)
        span = high - low
        contrasted = ((image - low) / (span + 1e-7)) ** gamma.to(image).view(shape) * span + low
        image = torch.where((gamma != 1).to(image.device).view(shape), contrasted, image)
        # Gaussian noise with a standard deviation drawn in [0, NOISE_STD]
        std = torch.empty(n).uniform_(0, NOISE_STD, generator=rng) * _chosen(n, INTENSITY_PROB, rng)
        noise_seed = int(torch.randint(2**62, (1,), generator=rng))
        noise = torch.randn(image.shape, generator=torch.Generator(image.device)
                            .manual_seed(noise_seed), device=image.device, dtype=image.dtype)
        return image + noise * std.to(image).view(shape)


def _chosen(n: int, prob: float, rng: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=rng) < prob


def _voxel_affines(n: int, size: Sequence[int], rng: torch.Generator) -> torch.Tensor:
    """(n, d+1, d+1) maps from output to input voxel coordinates centred on the image, composed
    as MONAI's ``AffineGrid``: rotation @ translation @ scale (rotations intrinsic "XYZ")."""
    dims = len(size)
    uniform = lambda *shape: torch.empty(*shape, dtype=torch.float64).uniform_(-1, 1, generator=rng)  # noqa: E731
    angles = uniform(n, 1 if dims == 2 else 3) * ROTATE
    shift = uniform(n, dims) * torch.tensor(shift_voxels(size), dtype=torch.float64)
    scale = 1 + uniform(n, dims) * ZOOM
    eye = torch.eye(dims + 1, dtype=torch.float64).repeat(n, 1, 1)
    rotate = eye.clone()
    planes = [(0, 1)] if dims == 2 else [(1, 2), (2, 0), (0, 1)]  # about z (2D); x, y, z (3D)
    for k, (a, b) in enumerate(planes):
        r = eye.clone()
        cos, sin = angles[:, k].cos(), angles[:, k].sin()
        r[:, a, a], r[:, a, b], r[:, b, a], r[:, b, b] = cos, -sin, sin, cos
        rotate = rotate @ r
    translate, zoom = eye.clone(), eye.clone()
    translate[:, :dims, dims] = shift
    zoom[:, range(dims), range(dims)] = scale
    return rotate @ translate @ zoom


def _normalised(affine: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``affine_grid``'s theta for a voxel affine: coordinates scaled to [-1, 1] per axis
    (voxel c from the centre is 2c / size with ``align_corners=False``), axes in x, y, z order."""
    dims = len(size)
    to_unit = torch.diag(torch.tensor([2.0 / s for s in size] + [1.0], dtype=torch.float64))
    theta = to_unit @ affine @ torch.linalg.inv(to_unit)
    order = list(reversed(range(dims))) + [dims]
    return theta[:, order][:, :, order][:, :dims].float()


def _legendre_terms(size: Sequence[int], device) -> torch.Tensor:
    """The products of Legendre polynomials that MONAI's ``RandBiasField`` sums (its 2D set is
    the lower triangle of the coefficient matrix, its 3D set the total degrees up to 3)."""
    coords = [torch.linspace(-1, 1, s, device=device) for s in size]
    polys = [_legendre(c) for c in coords]
    if len(size) == 2:
        pairs = [(i, j) for i in range(BIAS_DEGREE + 1) for j in range(i + 1)]
        return torch.stack([polys[0][i][:, None] * polys[1][j][None] for i, j in pairs])
    triples = [(i, j, k) for i in range(BIAS_DEGREE + 1) for j in range(BIAS_DEGREE + 1 - i)
               for k in range(BIAS_DEGREE + 1 - i - j)]
    return torch.stack([polys[0][i][:, None, None] * polys[1][j][None, :, None]
                        * polys[2][k][None, None] for i, j, k in triples])


def _legendre(x: torch.Tensor) -> list[torch.Tensor]:
    return [torch.ones_like(x), x, (3 * x**2 - 1) / 2, (5 * x**3 - 3 * x) / 2]


def _transforms(s: AugmentationSet, spatial_dims: int, patch: Sequence[int] | None) -> list:
    out = []
    if s.flip != "none" and s.flip_prob > 0:
        axes = [0] if s.flip == "left-right" else range(spatial_dims)
        out += [RandFlipd(KEYS, prob=s.flip_prob, spatial_axis=axis) for axis in axes]
    if s.rotate90_prob > 0:
        out.append(RandRotate90d(KEYS, prob=s.rotate90_prob, max_k=3))
    if s.affine_prob > 0:
        low, high = s.scale_range
        shift = [s.shift * n for n in patch] if patch is not None else None
        out.append(RandAffined(
            KEYS, prob=s.affine_prob,
            rotate_range=[math.radians(s.rotate)] * (1 if spatial_dims == 2 else 3),
            # MONAI zooms by 1 + a draw from scale_range; (low - 1, high - 1) gives low..high
            scale_range=[(low - 1.0, high - 1.0)] * spatial_dims,
            translate_range=shift, mode=("bilinear", "nearest"), padding_mode="zeros"))
    if s.bias_coeff is not None and s.bias_prob > 0:
        out.append(RandBiasFieldd("image", prob=s.bias_prob, coeff_range=s.bias_coeff))
    if s.gamma is not None and s.gamma_prob > 0:
        out.append(RandAdjustContrastd("image", prob=s.gamma_prob, gamma=s.gamma))
    if s.brightness is not None and s.brightness_prob > 0:
        low, high = s.brightness
        out.append(RandScaleIntensityd("image", factors=(low - 1.0, high - 1.0),
                                       prob=s.brightness_prob))
    if s.intensity_shift > 0 and s.intensity_shift_prob > 0:
        out.append(RandShiftIntensityd("image", offsets=s.intensity_shift,
                                       prob=s.intensity_shift_prob))
    if s.blur_sigma is not None and s.blur_prob > 0:
        out.append(RandGaussianSmoothd("image", sigma_x=s.blur_sigma, sigma_y=s.blur_sigma,
                                       sigma_z=s.blur_sigma, prob=s.blur_prob))
    if s.noise_std > 0 and s.noise_prob > 0:
        out.append(RandGaussianNoised("image", prob=s.noise_prob, std=s.noise_std))
    return out
