"""Classical augmentation as one switch, applied on the fly with MONAI dictionary transforms.

Spatial: flips, small rotations, shifts and zoom (the set of Vu et al., Table 1). Intensity: bias
field, gamma contrast and Gaussian noise (the brainSPADE set). Randomness comes from the seed.
"""

from __future__ import annotations

import math

from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
)

KEYS = ("image", "label")


def augmentation(spatial_dims: int, seed: int) -> Compose:
    rotate = math.radians(15)
    flips = [RandFlipd(KEYS, prob=0.5, spatial_axis=axis) for axis in range(spatial_dims)]
    transform = Compose([
        *flips,
        RandAffined(KEYS, prob=0.5, rotate_range=[rotate] * (1 if spatial_dims == 2 else 3),
                    translate_range=[0.1] * spatial_dims, scale_range=[0.1] * spatial_dims,
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandBiasFieldd("image", prob=0.3, coeff_range=(0.0, 0.1)),
        RandAdjustContrastd("image", prob=0.3, gamma=(0.7, 1.5)),
        RandGaussianNoised("image", prob=0.3, std=0.02),
    ])
    transform.set_random_state(seed=seed)
    return transform
