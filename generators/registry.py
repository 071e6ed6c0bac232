"""The generator registry: built-ins below, third parties through ``synth2seg.generators``."""

from __future__ import annotations

from bench.registry import Registry
from generators.protocol import Generator

ENTRY_POINT_GROUP = "synth2seg.generators"

BUILTINS = {
    "none": "generators.baselines:NoneGenerator",
    "phantom-oracle": "generators.baselines:PhantomOracle",
    "brainspade": "generators.brainspade:BrainSPADE",
    "b-sg": "generators.stylegan2:BSG",
    "m-sg": "generators.stylegan2:MSG",
    "c-sg": "generators.stylegan2:CSG",
    "mc-sg": "generators.stylegan2:MCSG",
    "medgen3d": "generators.medgen3d:MedGen3D",
}
generators: Registry[Generator] = Registry("generator", ENTRY_POINT_GROUP, BUILTINS)


def get_generator(name: str) -> type[Generator]:
    return generators.get(name)
