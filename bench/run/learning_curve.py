"""The learning curve's cells: the real-only baseline again on fewer real training cases.

``learning_curve: {train_cases: [2, 4, 8]}`` adds, for every segmenter, augmentation set and seed
of the matrix, one ``real`` cell per size. The full-size ``real`` cell of the matrix is the
curve's last point; :mod:`bench.report.curve_inversion` turns the curve into "equivalent to N
real cases".

Which cases a smaller training set keeps: the split's training part is shuffled with
``numpy.random.default_rng([learning_curve.seed, cell seed])`` and the first n cases are kept.
So the sizes of one seed are nested (the 4 cases include the 2), every seed draws its own
subsets (the curve averages over which cases a researcher happens to have), and a subset only
ever holds training cases: the leakage guard checks it like any training set before training.
"""

from __future__ import annotations

import numpy as np

from bench.api.case import CaseSet
from bench.api.errors import ConfigError
from bench.run.cell import Cell
from bench.run.config import MatrixConfig
from bench.run.resolve import NONE


def curve_cells(config: MatrixConfig, strategies, segmenters, seeds) -> list:
    """One real-only cell per training-set size, segmenter, augmentation set and seed."""
    if config.learning_curve is None:
        return []
    real = [s for s in strategies if s.name == "real"]
    if not real:
        raise ConfigError("learning_curve: its last point is the full-size real-only baseline; "
                          "add 'real' to strategies")
    return [Cell(NONE, 0, strategy, segmenter, seed, train_cases=n)
            for strategy in real for segmenter in segmenters for seed in seeds
            for n in config.learning_curve.train_cases]


def check_sizes(config: MatrixConfig, available: int) -> None:
    """Every size must fit in the split's real training part."""
    if config.learning_curve is None:
        return
    larger = [n for n in config.learning_curve.train_cases if n > available]
    if larger:
        raise ConfigError(f"learning_curve.train_cases: {larger[0]} is more than the {available} "
                          "real training cases of the split (each size must be at most that)")


def training_cases(real: CaseSet, cell, config: MatrixConfig) -> CaseSet:
    """The real cases ``cell`` trains on: all of them, or its seeded subset of ``train_cases``."""
    if cell.train_cases is None:
        return real
    check_sizes(config, len(real))
    order = np.random.default_rng([config.learning_curve.seed, cell.seed]).permutation(len(real))
    return real.subset(sorted(order[:cell.train_cases].tolist()))
