"""The benchmark matrix: a config expanded into cells.

A cell is one trained segmenter: (generator, synthetic count, strategy, augmentation, segmenter,
seed). Meaningless combinations are skipped rather than run: a strategy without synthetic data
needs no generator and no count, so it appears once, under the generator ``none`` with count 0.
A config that asks for something the run would not do (a synthetic strategy without a
generator, a generator no strategy uses, a baseline that names no method, a sampling input the
generator does not declare it honours) is refused.
"""

from __future__ import annotations

from bench.api.errors import ConfigError
from bench.api.generator import CHANNELS, LESION_RATIO, STYLE, sampling_options
from bench.api.strategies import Strategy, parse_strategy
from bench.run.cell import Cell
from bench.run.config import MatrixConfig
from bench.run.learning_curve import curve_cells
from bench.run.resolve import NONE, Component, Resolved, component_class, resolve_config


def expand(config: MatrixConfig, resolved: Resolved | None = None) -> list[Cell]:
    """Every cell of the matrix; ``resolved`` saves resolving (and hashing folders) again."""
    resolved = resolved or resolve_config(config)
    strategies = [parse_strategy(name, augment, config.synthetic_fraction)
                  for name in config.strategies for augment in config.augmentation]
    if not (strategies and resolved.segmenters and config.seeds):
        raise ConfigError("the matrix is empty: strategies, augmentation, segmenters and seeds "
                          "each need at least one value")
    _check_requests(config, strategies, resolved.generators)
    _check_sampling_options(config, resolved.generators)
    _check_augmentation(strategies, resolved.segmenters)
    cells = []
    for strategy in strategies:
        for segmenter in resolved.segmenters:
            for seed in config.seeds:
                if not strategy.needs_synthetic:
                    cells.append(Cell(NONE, 0, strategy, segmenter, seed))
                    continue
                for generator in resolved.generators:
                    for count in config.counts:
                        cells.append(Cell(generator, count, strategy, segmenter, seed))
    cells += curve_cells(config, strategies, resolved.segmenters, config.seeds)
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ConfigError("the matrix has duplicate cells: list each strategy, augmentation "
                          "and seed once")
    if config.baseline is not None and config.baseline not in {c.method for c in cells}:
        near = sorted({c.method for c in cells if c.count == 0})
        raise ConfigError(f"baseline '{config.baseline}' is not a method of this matrix "
                          f"(real-only methods: {'; '.join(near) or 'none'})")
    return cells


def _check_requests(config: MatrixConfig, strategies: list[Strategy],
                    generators: tuple[Component, ...]) -> None:
    """Refuse axes the run would silently drop."""
    for strategy in strategies:
        if strategy.needs_target and config.target is None:
            raise ConfigError(f"strategy '{strategy.name}' fine-tunes on a target domain: "
                              "set 'target' to a labelled dataset")
    synthetic = [s.name for s in strategies if s.needs_synthetic]
    if synthetic and not generators:
        raise ConfigError(f"strategy '{synthetic[0]}' trains on synthetic data but 'generators' "
                          "lists no generator other than 'none'")
    if generators and not synthetic:
        raise ConfigError(f"generator '{generators[0].label}' is never used: no strategy in "
                          f"{config.strategies} trains on synthetic data")
    if config.target is not None and not any(s.needs_target for s in strategies):
        raise ConfigError("'target' is set but no strategy fine-tunes on it (e.g. real>target)")
    if config.synthetic_fraction is not None and not any(
            s.synthetic_fraction is not None for st in strategies for s in st.stages):
        raise ConfigError("'synthetic_fraction' is set but no strategy has a real+synthetic "
                          "stage to mix")


def _check_sampling_options(config: MatrixConfig, generators: tuple[Component, ...]) -> None:
    """Refuse a sampling input a generator does not declare (``sampling_options``): it would
    ignore it, and the method would carry the request's name over samples that do not."""
    for generator in generators:
        asked = {STYLE: (generator.style is not None, "a 'style:' entry"),
                 LESION_RATIO: (config.lesion_fraction is not None, "'lesion_fraction'"),
                 CHANNELS: (generator.style is not None and not config.match_channel_names,
                            "images in the style's channels ('match_channel_names: false')")}
        declared = sampling_options(component_class("generator", generator.name))
        for option, (wanted, field) in asked.items():
            if wanted and option not in declared:
                has = ", ".join(sorted(declared)) or "none"
                raise ConfigError(f"generator '{generator.label}' ({generator.name}) cannot take "
                                  f"{field}: it does not declare the '{option}' sampling option "
                                  f"(it declares: {has})")


def _check_augmentation(strategies: list[Strategy], segmenters: tuple[Component, ...]) -> None:
    """Refuse an augmentation set a segmenter cannot apply (nnU-Net runs its own trainers)."""
    for segmenter in segmenters:
        allowed = component_class("segmenter", segmenter.name).augmentation_sets
        for strategy in strategies:
            if strategy.augment not in allowed:
                raise ConfigError(f"segmenter '{segmenter.label}' cannot apply augmentation "
                                  f"'{strategy.augment}' (it applies: {', '.join(allowed)})")
