"""brainSPADE (Fernandez et al. 2022): a label LDM and a SPADE image generator; see model.py."""

from generators.brainspade.model import BrainSPADE, BrainSPADEParams

__all__ = ["BrainSPADE", "BrainSPADEParams"]
