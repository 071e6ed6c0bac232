"""MedGen3D (Xiong et al. 2023): 3D mask volumes from an MC-DPM, images from a sequence generator
and a semantic diffusion refiner."""

from generators.medgen3d.model import PRESETS, MedGen3D, MedGen3DParams

__all__ = ["PRESETS", "MedGen3D", "MedGen3DParams"]
