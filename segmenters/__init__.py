"""Segmentation models behind the Segmenter protocol of bench.api."""
