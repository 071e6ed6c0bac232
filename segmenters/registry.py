"""The segmenter registry: built-ins below, third parties through ``synth2seg.segmenters``."""

from __future__ import annotations

from bench.registry import Registry
from segmenters.protocol import Segmenter

ENTRY_POINT_GROUP = "synth2seg.segmenters"

# Built-in segmenters are added here as "name": "module:Class" when they land.
segmenters: Registry[Segmenter] = Registry("segmenter", ENTRY_POINT_GROUP, {})


def get_segmenter(name: str) -> type[Segmenter]:
    return segmenters.get(name)
