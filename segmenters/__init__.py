"""Segmentation models behind one protocol."""

from segmenters.protocol import Segmenter, TrainContext, TrainedModel
from segmenters.registry import get_segmenter, segmenters

__all__ = ["Segmenter", "TrainContext", "TrainedModel", "get_segmenter", "segmenters"]
