"""Cell: one point of the benchmark matrix, one trained segmenter.

(generator, synthetic count, strategy, augmentation, segmenter, seed): hashable, with a stable
string key that names its folder and its rows in the store, and the method (everything but the
seed) that names its leaderboard row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bench.api.strategies import Strategy
from bench.run.resolve import Component


@dataclass(frozen=True)
class Cell:
    generator: Component
    count: int
    strategy: Strategy
    segmenter: Component
    seed: int
    train_cases: int | None = None  # real-only on this many real cases (bench.run.learning_curve)

    @property
    def method(self) -> str:
        """The leaderboard row this cell contributes to: everything but the seed."""
        unit = " cases" if self.generator.count_unit == "cases" else ""
        source = "real only" if self.count == 0 else \
            f"{self.generator.label} n={self.count}{unit}"
        source += "" if self.train_cases is None else f" ({self.train_cases} real cases)"
        return f"{source} · {self.strategy.key} · {self.segmenter.label}"

    @property
    def method_id(self) -> str:
        """The method's identity: resolved components, count and strategy; never a label."""
        text = "|".join([self.generator.identity, str(self.count), self.strategy.key,
                         repr(self.strategy.stages), self.segmenter.identity])
        text += "" if self.train_cases is None else f"|train_cases={self.train_cases}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        """Stable across runs: a readable slug and the method's identity with the seed."""
        digest = hashlib.sha256(f"{self.method_id}|{self.seed}".encode()).hexdigest()[:10]
        slug = f"{self.generator.label}-n{self.count}-{self.strategy.key}-" \
               f"{self.segmenter.label}-s{self.seed}"
        slug += "" if self.train_cases is None else f"-t{self.train_cases}"
        return f"{_safe(slug)}-{digest}"


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in text)
