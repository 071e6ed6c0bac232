"""The contract every plugin imports: cases, strategies, errors, protocols and registries.

Imports nothing else of synth2seg, so an adapter depends on this and on nothing of the harness.
"""

from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError, DataError, UserError
from bench.api.generator import FitContext, Generator, PaintsMasks, ReadsFolder, SampleContext
from bench.api.registry import generators, get_generator, get_segmenter, segmenters
from bench.api.segmenter import ExposesEncoder, Segmenter, TrainContext, TrainedModel
from bench.api.slices import SliceSet
from bench.api.strategies import Stage, Strategy, parse_strategy

__all__ = ["Case", "CaseSet", "ConfigError", "DataError", "ExposesEncoder", "FitContext",
           "Generator", "PaintsMasks", "ReadsFolder", "SampleContext", "Segmenter", "SliceSet",
           "Stage", "Strategy", "TrainContext", "TrainedModel", "UserError", "generators",
           "get_generator", "get_segmenter", "parse_strategy", "segmenters"]
