"""The Segmenter protocol: train on the stages of a strategy, predict label maps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pydantic

from bench.case import CaseSet
from bench.strategies import Stage


@dataclass
class TrainContext:
    """Where and how training runs, and the data each stage name refers to."""

    workdir: Path
    # "real", "val", "synthetic", "target", "target_val": a stage on "target" picks its
    # checkpoint on "target_val", every other stage on "val"
    data: dict[str, CaseSet]
    device: str = "cpu"
    seed: int = 0
    augment: str = "none"  # an augmentation set (segmenters.augment_sets); True/False: default/none
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("synth2seg.segmenter"))

    def __post_init__(self):
        from segmenters.augment_sets import set_name

        self.augment = set_name(self.augment)


@dataclass
class TrainedModel:
    """A trained segmenter's weights on disk plus whatever it needs to predict."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Segmenter(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type[pydantic.BaseModel]]

    def train(self, stages: list[Stage], ctx: TrainContext) -> TrainedModel: ...

    def predict(self, model: TrainedModel, cases: CaseSet) -> list[np.ndarray]: ...


def preset_params(segmenter, params: pydantic.BaseModel | None, preset: str | None):
    """``params``, or the named preset's, or the defaults; an unknown preset is a ConfigError."""
    from bench.errors import ConfigError

    if preset is None:
        return params or segmenter.Params()
    if preset not in segmenter.presets:
        raise ConfigError(f"segmenter '{segmenter.name}': unknown preset '{preset}' "
                          f"(known: {', '.join(segmenter.presets)})")
    return segmenter.Params(**segmenter.presets[preset])
