"""The segmenter registry: built-ins below, third parties through ``synth2seg.segmenters``."""

from __future__ import annotations

from bench.registry import Registry
from segmenters.protocol import Segmenter

ENTRY_POINT_GROUP = "synth2seg.segmenters"

BUILTINS = {
    "unet2d": "segmenters.monai_models:UNet2D",
    "unet3d": "segmenters.monai_models:UNet3D",
    "unetr": "segmenters.monai_models:UNETRSegmenter",
    "swin_unetr": "segmenters.monai_models:SwinUNETRSegmenter",
    "nnunet": "segmenters.nnunet:NnUNetSegmenter",
}
segmenters: Registry[Segmenter] = Registry("segmenter", ENTRY_POINT_GROUP, BUILTINS)


def get_segmenter(name: str) -> type[Segmenter]:
    return segmenters.get(name)
