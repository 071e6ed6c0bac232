"""Training strategies as data: a strategy is a list of stages.

Written as stage names joined by ``>``: ``real+synthetic>real`` trains on real and synthetic
data, then fine-tunes those weights on real data. The names of the MedGen3D paper are aliases:
E2-1…E2-5 compare data sources, E3-1…E3-4 transfer to a target domain with a small labelled set.
The augmentation axis of Vu et al. is a named set on the strategy (see
:mod:`bench.api.augment_sets`), not another name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from bench.api.errors import ConfigError

StageData = Literal["real", "synthetic", "real+synthetic", "target"]
STAGE_DATA: tuple[str, ...] = get_args(StageData)

PAPER_ALIASES = {
    "E2-1": "real",
    "E2-2": "synthetic",
    "E2-3": "real+synthetic",
    "E2-4": "synthetic>real",
    "E2-5": "real+synthetic>real",
    "E3-1": "target",
    "E3-2": "real>target",
    "E3-3": "synthetic>real>target",
    "E3-4": "real+synthetic>real>target",
}


@dataclass(frozen=True)
class Stage:
    """One training stage: which data, and whether it starts from the previous stage's weights.

    ``synthetic_fraction`` applies to ``real+synthetic``: None concatenates the two sets; a
    number draws that fraction of each epoch's samples from the synthetic set.
    """

    data: StageData
    finetune: bool = False
    synthetic_fraction: float | None = None


@dataclass(frozen=True)
class Strategy:
    name: str
    stages: tuple[Stage, ...]
    augment: str = "none"  # an augmentation set's name

    @property
    def key(self) -> str:
        """``name``, ``name+aug`` (the set ``default``, as before sets had names) or
        ``name+aug:SET``."""
        if self.augment == "none":
            return self.name
        return f"{self.name}+aug" if self.augment == "default" else \
            f"{self.name}+aug:{self.augment}"

    @property
    def needs_synthetic(self) -> bool:
        return any("synthetic" in s.data for s in self.stages)

    @property
    def needs_target(self) -> bool:
        return any(s.data == "target" for s in self.stages)


def set_name(value: str | bool) -> str:
    """The augmentation set a config value names: ``false``/``true`` are ``none``/``default``.

    Which names exist is :mod:`bench.api.augment_sets`'s business; the run's
    config validation refuses an unknown one.
    """
    if isinstance(value, bool):
        return "default" if value else "none"
    return value


def parse_strategy(name: str, augment: str | bool = "none",
                   synthetic_fraction: float | None = None) -> Strategy:
    """``real``, ``synthetic>real``, ``E2-5``, …: every stage after the first fine-tunes.

    ``augment`` names an augmentation set; ``False``/``True`` mean ``none``/``default``.
    """
    augment = set_name(augment)
    canonical = PAPER_ALIASES.get(name.strip(), name.strip())
    parts = [p.strip() for p in canonical.split(">")]
    for part in parts:
        if part not in STAGE_DATA:
            raise ConfigError(f"strategy '{name}': unknown stage '{part}' (stages: "
                              f"{', '.join(STAGE_DATA)}; aliases: {', '.join(PAPER_ALIASES)})")
    if synthetic_fraction is not None and not 0.0 < synthetic_fraction < 1.0:
        raise ConfigError(f"strategy '{name}': synthetic_fraction must be in (0, 1), "
                          f"got {synthetic_fraction}")
    stages = tuple(
        Stage(part, finetune=i > 0,
              synthetic_fraction=synthetic_fraction if part == "real+synthetic" else None)
        for i, part in enumerate(parts)
    )
    return Strategy(canonical, stages, augment)
