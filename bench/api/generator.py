"""The Generator protocol: what the harness needs from a generative model, and nothing more."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import pydantic

from bench.api.case import CaseSet
from bench.api.errors import DataError


@dataclass
class FitContext:
    """Where and how a fit runs. ``progress(step, total, losses)`` feeds the training curve."""

    workdir: Path
    device: str = "cpu"
    seed: int = 0
    progress: Callable[[int, int, dict[str, float]], None] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("synth2seg.generator"))


@dataclass
class SampleContext:
    """How to sample: ``style`` images (e.g. unlabelled target-domain images for brainSPADE),
    the fraction of samples that carry a lesion, and the image channels wanted."""

    seed: int = 0
    device: str = "cpu"
    style: CaseSet | None = None
    lesion_ratio: float | None = None
    channels: list[str] | None = None

    def channel_indices(self, available: list[str], what: str) -> list[int]:
        """Positions in ``available`` of the wanted channels (all when none are named)."""
        wanted = self.channels or available
        missing = [c for c in wanted if c not in available]
        if missing:
            raise DataError(f"{what} has channels {list(available)}; {missing} wanted")
        return [list(available).index(c) for c in wanted]


# Optional sampling inputs of SampleContext, by name: what a generator declares it honours in
# ``sampling_options`` (see :class:`TakesSamplingOptions`).
STYLE = "style"  # ctx.style: images whose style (or masks) the samples take
LESION_RATIO = "lesion_ratio"  # ctx.lesion_ratio: the fraction of samples with a lesion
CHANNELS = "channels"  # ctx.channels: the image channels to return, among those fitted on
SAMPLING_OPTIONS = frozenset({STYLE, LESION_RATIO, CHANNELS})


@runtime_checkable
class Generator(Protocol):
    """A generative model of (image, mask) pairs; constructed as ``cls(params)``.

    ``fit`` must checkpoint under ``ctx.workdir`` so an interrupted fit resumes; ``sample(n)``
    must be a deterministic function of ``ctx.seed`` so that smaller counts can take a prefix.
    ``version`` is part of every identity: raise it when the same params would give other samples.
    ``spatial_dims`` is 2 for a generator of slices, 3 for one of volumes (0: samples nothing).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    spatial_dims: ClassVar[int]
    Params: ClassVar[type[pydantic.BaseModel]]
    presets: ClassVar[dict[str, dict]]

    def fit(self, train: CaseSet, ctx: FitContext) -> None: ...

    def sample(self, n: int, ctx: SampleContext) -> CaseSet: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Generator: ...


@runtime_checkable
class TakesSamplingOptions(Protocol):
    """Optional: the sampling inputs beyond seed and device that ``sample`` honours, a subset of
    :data:`SAMPLING_OPTIONS` (``style``, ``lesion_ratio``, ``channels``).

    A generator that does not declare ``sampling_options`` honours none of them. The matrix
    refuses, when it expands, to ask a generator for one it does not declare (a ``style:``
    entry, the config's ``lesion_fraction``, images in a style's channels), so that a request is
    never answered with samples that ignored it. ``ctx.channels`` always names the run's
    channels: a generator that does not declare ``channels`` returns the channels it was fitted
    on, which the harness checks against the run's.
    """

    sampling_options: ClassVar[frozenset[str]]


def sampling_options(generator: type | object) -> frozenset[str]:
    """What a generator class (or instance) declares it honours; empty when it declares
    nothing, the default of a third-party adapter."""
    if isinstance(generator, TakesSamplingOptions):
        return frozenset(generator.sampling_options)
    return frozenset()


@runtime_checkable
class PaintsMasks(Protocol):
    """Optional: paints images for given masks (C-SG, MC-SG, brainSPADE, MedGen3D), which lets
    fidelity judge image–mask alignment on real masks."""

    def images_for(self, masks: CaseSet, ctx: SampleContext) -> CaseSet: ...


@runtime_checkable
class ReadsFolder(Protocol):
    """Optional: a generator that reads pre-generated cases from ``folder()`` (``folder``).

    It has nothing to fit, and its identity is the folder's content, not its params (which must
    therefore only say where the folder is): the same folder elsewhere is the same method, a
    changed file another one.
    """

    def folder(self) -> Path: ...
