"""What a matrix will do, without doing it: sample counts per cell and the ``--dry-run`` text.

A count is a number of samples unless the generator entry says ``count_unit: cases``: then a
2D generator (one that samples slices) samples count x :func:`bench.api.slices.slices_per_case` of
the real training data, cut along its slicing axis as the generators cut it, so "20 generated
patients" means as many slices as 20 real patients give; a 3D generator samples one volume per
case.
"""

from __future__ import annotations

from bench.api.case import CaseSet
from bench.api.errors import ConfigError
from bench.api.slices import CASE_SLICE_FOREGROUND, slices_per_case
from bench.data.geometry import slicing_axis
from bench.run.config import MatrixConfig
from bench.run.matrix import expand
from bench.run.resolve import Component, component_class, resolve_config


def samples_per_count(generator: Component, real: CaseSet) -> int:
    """How many samples one unit of a count is for ``generator`` on the training data ``real``."""
    if generator.count_unit == "samples":
        return 1
    dims = component_class("generator", generator.name).spatial_dims
    if dims not in (2, 3):
        raise ConfigError(f"generator '{generator.label}': count_unit 'cases' needs the "
                          "generator to declare spatial_dims (2: slices, 3: volumes)")
    return slices_per_case(real, slicing_axis(real)) if dims == 2 else 1


def describe(config: MatrixConfig) -> list[str]:
    """The expanded matrix as lines of text, for ``synth2seg run --dry-run``; reads no data."""
    cells = expand(config)
    resolved = resolve_config(config)
    split = config.split
    lines = [f"matrix {config.name}: {len(cells)} cells",
             f"dataset: {config.dataset} (split val {split.val}, test {split.test}, seed "
             f"{split.seed}{f', train_cases {split.train_cases}' if split.train_cases else ''})"]
    tests = ({"heldout": "the split's test part"} if split.test > 0 else {}) | config.test_sets
    lines += ["test sets:"] + [f"  {name}: {spec}" for name, spec in tests.items()]
    if config.target:
        lines.append(f"target: {config.target} (target_val {split.target_val})")
    styles = sorted({g.style for g in resolved.generators if g.style})
    lines.append(f"style sets: {', '.join(styles) or 'none'}")
    fits = sorted({g.fit_data for g in resolved.generators if g.fit_data})
    lines.append(f"generator fit data: {', '.join(fits) or 'the training split'}")
    lines.append("generators:")
    for g in resolved.generators:
        unit = "" if g.count_unit == "samples" else \
            f" (cases: 2D samples x slices per training case, >= {CASE_SLICE_FOREGROUND:.0%} " \
            "foreground)"
        lines.append(f"  {g.label}: {g.name} v{g.version} preset={g.preset} "
                     f"identity={g.identity}")
        lines.append(f"    params: {g.params_json}")
        if g.source is not None:
            what = "fitted generator" if g.fitted else "pre-generated cases"
            lines.append(f"    {what} read from {g.source} (content {g.content})")
        lines.append(f"    count unit: {g.count_unit}{unit}; style: {g.style or 'none'}; "
                     f"fitted on: {g.fit_data or 'the training split'}")
    lines.append(f"counts: {config.counts}")
    if config.lesion_fraction is not None:
        lines.append(f"lesion fraction: {config.lesion_fraction}")
    lines.append(f"strategies: {', '.join(config.strategies)}")
    lines.append(f"augmentation sets: {', '.join(sorted({c.strategy.augment for c in cells}))}")
    lines.append("segmenters:")
    for s in resolved.segmenters:
        lines.append(f"  {s.label}: {s.name} v{s.version} preset={s.preset} "
                     f"identity={s.identity}")
        lines.append(f"    params: {s.params_json}")
    lines.append(f"seeds: {config.seeds}")
    if config.learning_curve is not None:
        lines.append(f"learning curve: real-only at {config.learning_curve.train_cases} real "
                     f"training cases (subset seed {config.learning_curve.seed})")
    methods = sorted({c.method for c in cells})
    lines.append(f"methods: {len(methods)}")
    lines += [f"  {m}" for m in methods]
    return lines

