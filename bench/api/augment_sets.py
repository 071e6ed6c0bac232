"""Named classical augmentation sets, as data: the ranges and probabilities each paper used.

A matrix's ``augmentation`` axis names sets from :data:`AUGMENTATION_SETS`; ``false`` and
``true`` stay aliases of ``none`` and ``default`` so older configs keep their meaning (and their
cell keys). :func:`segmenters.augment.augmentation` turns a set into MONAI transforms; nnU-Net
runs its own trainer instead (see :data:`NNUNET_SETS`).

Where a paper gives no probability, the value chosen here is stated in the set's ``note``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.api.strategies import set_name

Range = tuple[float, float]


class AugmentationSet(BaseModel):
    """Ranges and probabilities of one set; a zero range or probability leaves that step out.

    Spatial steps act on image and label alike (label with nearest neighbour); intensity steps
    on the image only. ``shift`` is a fraction of the patch size, ``scale`` a relative zoom
    (0.1: 0.9 to 1.1), ``rotate`` degrees in each plane.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # where the values come from
    note: str = ""
    flip: Literal["none", "left-right", "all"] = "none"
    flip_prob: float = Field(0.0, ge=0.0, le=1.0)
    rotate90_prob: float = Field(0.0, ge=0.0, le=1.0)  # quarter turns in the first plane
    rotate: float = Field(0.0, ge=0.0, le=180.0)
    scale: float | Range = 0.0  # symmetric fraction, or (low, high) zoom factors
    shift: float = Field(0.0, ge=0.0, lt=1.0)
    affine_prob: float = Field(0.0, ge=0.0, le=1.0)
    bias_coeff: Range | None = None
    bias_prob: float = Field(0.0, ge=0.0, le=1.0)
    gamma: Range | None = None
    gamma_prob: float = Field(0.0, ge=0.0, le=1.0)
    noise_std: float = Field(0.0, ge=0.0)  # MONAI draws the std uniformly in [0, noise_std]
    noise_prob: float = Field(0.0, ge=0.0, le=1.0)
    blur_sigma: Range | None = None
    blur_prob: float = Field(0.0, ge=0.0, le=1.0)
    brightness: Range | None = None  # multiplicative factor range
    brightness_prob: float = Field(0.0, ge=0.0, le=1.0)
    intensity_shift: float = Field(0.0, ge=0.0)  # additive offset in (-x, x), z-scored units
    intensity_shift_prob: float = Field(0.0, ge=0.0, le=1.0)

    @property
    def scale_range(self) -> Range:
        """Zoom factors (low, high); 1.0 is no zoom."""
        if isinstance(self.scale, tuple):
            return self.scale
        return (1.0 - self.scale, 1.0 + self.scale)


AUGMENTATION_SETS: dict[str, AugmentationSet | None] = {
    "none": None,
    "default": AugmentationSet(
        source="synth2seg's set before named sets (`augmentation: true`)",
        flip="all", flip_prob=0.5, rotate=15.0, scale=0.1, shift=0.1, affine_prob=0.5,
        bias_coeff=(0.0, 0.1), bias_prob=0.3, gamma=(0.7, 1.5), gamma_prob=0.3,
        noise_std=0.02, noise_prob=0.3),
    "vu": AugmentationSet(
        source="Vu et al., Table 1 and Sec. 4.3: horizontal flip, rotation -1 to 1 degrees, "
               "rescaling 0.9 to 1.1, shift -5 to 5 percent",
        note="the paper gives no probabilities: flips with 0.5, the affine part on every sample",
        flip="left-right", flip_prob=0.5, rotate=1.0, scale=0.1, shift=0.05, affine_prob=1.0),
    "brainspade": AugmentationSet(
        source="Fernandez et al., Appendix A (MONAI): bias field 0.2-0.6, contrast gamma "
               "0.85-1.25, Gaussian noise sigma 0.05-0.15",
        note="the paper gives no probabilities: 0.5 each; MONAI draws the noise std in "
             "[0, 0.15], not [0.05, 0.15]",
        bias_coeff=(0.2, 0.6), bias_prob=0.5, gamma=(0.85, 1.25), gamma_prob=0.5,
        noise_std=0.15, noise_prob=0.5),
    "nnunet": AugmentationSet(
        source="nnU-Net v2's default trainer (nnUNetTrainer): mirroring, rotation and scaling "
               "(p 0.2 each), Gaussian noise (p 0.1), blur (p 0.2), brightness (p 0.15), gamma "
               "(p 0.3)",
        note="for MONAI segmenters, approximated with MONAI transforms (rotation and scaling in "
             "one affine with p 0.36 = 1 - 0.8^2; no contrast or low-resolution steps); the "
             "nnunet segmenter runs nnU-Net's own trainer",
        flip="all", flip_prob=0.5, rotate=30.0, scale=(0.7, 1.4), affine_prob=0.36,
        noise_std=0.316, noise_prob=0.1, blur_sigma=(0.5, 1.0), blur_prob=0.2,
        brightness=(0.75, 1.25), brightness_prob=0.15, gamma=(0.7, 1.5), gamma_prob=0.3),
    "monai": AugmentationSet(
        source="MONAI's standard spatial and intensity augmentation (its Swin-UNETR / UNETR "
               "tutorials), which MedGen3D used with MONAI's segmentation models",
        flip="all", flip_prob=0.1, rotate90_prob=0.1, intensity_shift=0.1,
        intensity_shift_prob=0.5),
}

# the sets nnU-Net's own trainers express: none (nnUNetTrainerNoDA) or its default pipeline
NNUNET_SETS = ("none", "default", "nnunet")

def known_set(value: str | bool) -> str:
    """The set a config value names (``false``/``true`` are ``none``/``default``), if it exists."""
    value = set_name(value)
    if value not in AUGMENTATION_SETS:
        raise ValueError(f"unknown augmentation set '{value}' "
                         f"(known: {', '.join(AUGMENTATION_SETS)}; or false/true)")
    return value
