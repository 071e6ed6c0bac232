"""The benchmark matrix: a config expanded into cells.

A cell is one trained segmenter: (generator, synthetic count, strategy, augmentation, segmenter,
seed). Meaningless combinations are skipped rather than run: a strategy without synthetic data
needs no generator and no count, so it appears once, under the generator ``none`` with count 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bench.config import GeneratorSpec, MatrixConfig, SegmenterSpec
from bench.errors import ConfigError
from bench.strategies import Strategy, parse_strategy

REAL_ONLY = GeneratorSpec(name="none")


@dataclass(frozen=True)
class Cell:
    generator: GeneratorSpec
    count: int
    strategy: Strategy
    segmenter: SegmenterSpec
    seed: int

    @property
    def method(self) -> str:
        """The leaderboard row this cell contributes to: everything but the seed."""
        source = "real only" if self.count == 0 else f"{self.generator.display} n={self.count}"
        return f"{source} · {self.strategy.key} · {self.segmenter.display}"

    @property
    def key(self) -> str:
        """Stable across runs: names and parameters, never object identities."""
        text = "|".join([self.generator.display, repr(sorted(self.generator.params.items())),
                         str(self.count), self.strategy.key, repr(self.strategy.stages),
                         self.segmenter.display, repr(sorted(self.segmenter.params.items())),
                         str(self.seed)])
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        slug = f"{self.generator.display}-n{self.count}-{self.strategy.key}-" \
               f"{self.segmenter.display}-s{self.seed}"
        return f"{_safe(slug)}-{digest}"


def expand(config: MatrixConfig) -> list[Cell]:
    cells = []
    strategies = [parse_strategy(name, augment, config.synthetic_fraction)
                  for name in config.strategies for augment in config.augmentation]
    synthetic_generators = [g for g in config.generators if g.name != "none"]
    for strategy in strategies:
        if strategy.needs_target and config.target is None:
            raise ConfigError(f"strategy '{strategy.name}' fine-tunes on a target domain: "
                              "set 'target' to a labelled dataset")
        for segmenter in config.segmenters:
            for seed in config.seeds:
                if not strategy.needs_synthetic:
                    cells.append(Cell(REAL_ONLY, 0, strategy, segmenter, seed))
                    continue
                for generator in synthetic_generators:
                    for count in config.counts:
                        cells.append(Cell(generator, count, strategy, segmenter, seed))
    if not cells:
        raise ConfigError("the matrix is empty: synthetic strategies need a generator other "
                          "than 'none', and every axis needs at least one value")
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ConfigError("the matrix has duplicate cells: give repeated generators or "
                          "segmenters distinct labels")
    return cells


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in text)
