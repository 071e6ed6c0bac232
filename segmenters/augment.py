"""Classical augmentation, applied on the fly with MONAI dictionary transforms.

The named sets (Vu et al., brainSPADE, nnU-Net, MONAI's standard) are data in
:mod:`segmenters.augment_sets`; this module only turns one into transforms. Randomness comes
from the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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

from segmenters.augment_sets import AUGMENTATION_SETS, AugmentationSet

KEYS = ("image", "label")


def augmentation(spatial_dims: int, seed: int, name: str = "default",
                 patch: Sequence[int] | None = None) -> Compose | None:
    """The transforms of set ``name`` for ``spatial_dims``-D samples of shape ``patch``.

    ``patch`` turns the set's shift fraction into pixels (MONAI translates by pixels); without
    it no shift is applied. Returns None for the set ``none``.
    """
    spec = AUGMENTATION_SETS[name]
    if spec is None:
        return None
    transform = Compose(_transforms(spec, spatial_dims, patch))
    transform.set_random_state(seed=seed)
    return transform


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
