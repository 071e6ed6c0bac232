"""Generator adapters: one sub-package per family, the protocol and the registry."""

from generators.protocol import FitContext, Generator, SampleContext
from generators.registry import generators, get_generator

__all__ = ["FitContext", "Generator", "SampleContext", "generators", "get_generator"]
