"""The Segmenter protocol: train on the stages of a strategy, predict label maps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pydantic

from bench.api.case import CaseSet
from bench.api.strategies import Stage, set_name

if TYPE_CHECKING:  # the CLI imports this contract; torch loads only where a network is built
    import torch


@dataclass
class TrainContext:
    """Where and how training runs, and the data each stage name refers to."""

    workdir: Path
    # "real", "val", "synthetic", "target", "target_val": a stage on "target" picks its
    # checkpoint on "target_val", every other stage on "val"
    data: dict[str, CaseSet]
    device: str = "cpu"
    seed: int = 0
    augment: str = "none"  # an augmentation set (bench.api.augment_sets); True/False: default/none
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("synth2seg.segmenter"))

    def __post_init__(self):
        self.augment = set_name(self.augment)


@dataclass
class TrainedModel:
    """A trained segmenter's weights on disk plus whatever it needs to predict.

    ``info["training"]``, optional: one record per stage of how far it trained and why it stopped
    (:data:`TRAINING_FIELDS`); the run stores it and the leaderboard shows which cells stopped at
    a validation plateau and which at their step cap.
    """

    path: Path
    info: dict[str, Any] = field(default_factory=dict)


# a stage's training record: "stopped" is "plateau" (``patience`` validations in a row without a
# better score) or "cap" (its ``cap`` of steps ran out); "stale" counts those validations at the end
TRAINING_FIELDS = ("stage", "steps", "cap", "patience", "stopped", "stale", "best_val_dice")
STOPS = ("plateau", "cap")


@runtime_checkable
class Segmenter(Protocol):
    """A segmentation model; constructed as ``cls(params)`` (None: the defaults), as a generator
    is; :func:`bench.api.presets.preset_params` resolves a preset into params.

    ``augmentation_sets`` names the augmentation sets its training can express (see
    :mod:`bench.api.augment_sets`); the matrix refuses any other before training.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    spatial_dims: ClassVar[int]
    Params: ClassVar[type[pydantic.BaseModel]]
    presets: ClassVar[dict[str, dict]]
    augmentation_sets: ClassVar[tuple[str, ...]]

    def train(self, stages: list[Stage], ctx: TrainContext) -> TrainedModel: ...

    def predict(self, model: TrainedModel, cases: CaseSet, device: str) -> list[np.ndarray]: ...


@runtime_checkable
class ExposesEncoder(Protocol):
    """Optional: the trained network (reloaded from its cell folder) and its input size, which
    lets fidelity compare samples in the real-only model's feature space."""

    def load(self, workdir: Path) -> TrainedModel: ...

    def network(self, model: TrainedModel, device: str) -> torch.nn.Module: ...

    def input_size(self) -> tuple[int, ...]: ...
