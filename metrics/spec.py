"""What a metric is, said once: its name, which way is better, its unit and range, and what an
empty case means. Tables, rankings and the page read these (as torchmetrics puts
``higher_is_better`` on each metric) instead of keeping lists of their own."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool | None  # None: no direction (a reference value, or near 1 is best)
    unit: str = ""
    low: float = -math.inf
    high: float = math.inf
    empty: str = ""  # what a case with an empty mask gives
    legend: str = ""

    @property
    def better(self) -> str | None:
        """``"high"``, ``"low"`` or None, as the page marks the best value of a column."""
        return None if self.higher_is_better is None else \
            ("high" if self.higher_is_better else "low")

    @property
    def lower_is_better(self) -> bool:
        return self.higher_is_better is False


def unknown(name: str) -> MetricSpec:
    """A metric nobody described (a third party's): no direction is assumed."""
    return MetricSpec(name, None, legend="no spec: direction unknown")
