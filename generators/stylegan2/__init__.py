"""The StyleGAN2 family of Vu et al.: B-SG, M-SG, C-SG and MC-SG."""

from generators.stylegan2.model import BSG, CSG, MCSG, MSG, StyleGAN2Params

__all__ = ["BSG", "CSG", "MCSG", "MSG", "StyleGAN2Params"]
