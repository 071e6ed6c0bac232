"""One leaderboard as one value: every table the report computes, which the CSV, Markdown and
HTML writers render. Computing and rendering are apart, so a new table is one field here and one
section in each writer, not a parameter threaded through three signatures."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Leaderboard:
    config: dict  # the run's matrix config, as the store's manifest holds it
    primary: str
    baseline: str | None
    alpha: float
    board: pd.DataFrame  # one row per method: ranks, means with intervals, counts, fidelity, cost
    per_test: dict[str, dict]  # per test set: Friedman, Nemenyi, signs, stability, verdicts
    classes: pd.DataFrame  # per method, test set, metric and class
    fidelity: pd.DataFrame = field(default_factory=pd.DataFrame)  # (generator, count) x metric
    notes: dict[str, str] = field(default_factory=dict)  # why a fidelity metric is n/a
    protocol: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    strata: pd.DataFrame = field(default_factory=pd.DataFrame)
    generators: pd.DataFrame = field(default_factory=pd.DataFrame)
    stopping: pd.DataFrame = field(default_factory=pd.DataFrame)  # per method and stage
    stopping_note: str = ""  # how many cells stopped at a plateau, at the cap, unrecorded

    @property
    def name(self) -> str:
        return str(self.config.get("name", "leaderboard"))
