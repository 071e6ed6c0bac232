"""The data of a run: real parts, test sets, target, style and generator fit sets, checked for
leakage."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.api.case import CaseSet
from bench.api.errors import ConfigError, DataError
from bench.data import geometry, open_dataset
from bench.data.leakage import check_no_leakage
from bench.data.split import split_cases
from bench.run.config import MatrixConfig
from bench.run.experiment import build_segmenter, check_compatible, check_spatial
from bench.run.learning_curve import check_sizes


@dataclass
class RunData:
    parts: dict[str, CaseSet]  # real, val, test
    tests: dict[str, CaseSet]
    target: CaseSet | None
    target_val: CaseSet | None = None
    styles: dict[str, CaseSet] = field(default_factory=dict)  # generators' style sets, by spec
    per_count: dict[str, int] = field(default_factory=dict)  # samples per count, by generator
    fit_sets: dict[str, CaseSet] = field(default_factory=dict)  # generators' fit_data, by spec

    def fit_data(self, spec: str | None) -> CaseSet:
        """What a generator is fitted on: its own fit data, else the run's training split."""
        return self.parts["real"] if spec is None else self.fit_sets[spec]

    def training_roles(self) -> dict[str, CaseSet]:
        """Every set a model or a generator learns from or is selected on, by role."""
        roles = {"training": self.parts["real"], "validation": self.parts["val"]}
        if self.target is not None:
            roles["target"] = self.target
        if self.target_val is not None:
            roles["target validation"] = self.target_val
        for spec, cases in self.styles.items():
            roles[f"style ({spec})"] = cases
        for spec, cases in self.fit_sets.items():
            roles[f"generator fit data ({spec})"] = cases
        return roles


def prepare_data(config: MatrixConfig) -> RunData:
    """The run's data, checked: labels and channels agree, and no test case is in any training
    role. Workers call it once per cell (the phantom's subjects come from its disk cache)."""
    cases = open_dataset(config.dataset)
    s = config.split
    parts = split_cases(cases, {"real": 1.0 - s.val - s.test, "val": s.val, "test": s.test},
                        s.seed)
    if s.train_cases is not None:
        if s.train_cases > len(parts["real"]):
            raise ConfigError(f"split.train_cases is {s.train_cases} but the training part "
                              f"has {len(parts['real'])} cases")
        parts["real"] = parts["real"].subset(range(s.train_cases))
    tests = {"heldout": parts["test"]} if len(parts["test"]) else {}
    for name, spec in config.test_sets.items():
        tests[name] = open_dataset(spec)
    if not tests:
        raise ConfigError("no test set: set split.test above 0 or add test_sets")
    target = target_val = None
    if config.target:
        target = open_dataset(config.target)
        if s.target_val > 0:
            held = split_cases(target, {"target": 1.0 - s.target_val, "val": s.target_val},
                               s.seed)
            target, target_val = held["target"], held["val"]
    for name, test in tests.items():
        check_compatible(parts["real"], test, f"test set '{name}'", same_labels=False,
                         same_channel_names=config.match_channel_names)
    styles = {spec: open_dataset(spec, labelled=False) for spec in _style_specs(config)}
    fit_sets = {spec: open_dataset(spec) for spec in _fit_specs(config)}
    for spec, cases in fit_sets.items():
        _check_fit_data(parts["real"], cases, spec, config.match_channel_names)
    data = RunData(parts, tests, target, target_val, styles, fit_sets=fit_sets)
    check_no_leakage(data.training_roles(), tests)  # on the stored cases, before resampling
    to_training_grid(data, geometry.plan(parts["real"], config.target_spacing))
    roles = {**parts, **({"target": target} if target is not None else {}), **tests}
    for spec in config.segmenters:  # before a cell fails on it
        check_spatial(build_segmenter(spec.name, spec.preset, spec.params), roles)
    check_sizes(config, len(parts["real"]))
    return data


def to_training_grid(data: RunData, plan: geometry.Plan) -> None:
    """Every set a model or generator learns from, at the plan's spacing with the plan in its
    meta; test sets stay on their stored grid (``run_experiment`` resamples them to predict and
    computes metrics on the stored grid). Test sets read from the dataset cache are resampled
    into it here, once, so that every cell, in whichever worker, reads their views instead of
    resampling them again."""
    data.parts = {k: geometry.apply(v, plan) for k, v in data.parts.items()}
    for cases in data.tests.values():
        if all(c.lazy for c in cases):  # held in memory, a view would be made again per cell
            geometry.apply(cases, plan)
    for name in ("target", "target_val"):
        if getattr(data, name) is not None:
            setattr(data, name, geometry.apply(getattr(data, name), plan))
    data.styles = {k: geometry.apply(v, plan) for k, v in data.styles.items()}
    data.fit_sets = {k: geometry.apply(v, plan) for k, v in data.fit_sets.items()}


def _style_specs(config: MatrixConfig) -> list[str]:
    return sorted({g.style for g in config.generators if g.style})


def _fit_specs(config: MatrixConfig) -> list[str]:
    return sorted({g.fit_data for g in config.generators if g.fit_data})


def _check_fit_data(real: CaseSet, fit: CaseSet, spec: str, same_channel_names: bool) -> None:
    """A generator fitted elsewhere must sample the run's labels, dimensionality and (by name,
    unless ``match_channel_names`` is off) channels; it may know more channels."""
    where = f"generator fit_data {spec}"
    if fit.spatial_dims != real.spatial_dims:
        raise DataError(f"{where}: {fit.spatial_dims}D cases, the training data is "
                        f"{real.spatial_dims}D")
    if set(fit.labels) != set(real.labels):
        raise DataError(f"{where}: labels {fit.labels} do not match the training data's "
                        f"{real.labels}")
    ours, theirs = [c.lower() for c in real.channels], [c.lower() for c in fit.channels]
    missing = [c for c, low in zip(real.channels, ours, strict=True) if low not in theirs]
    if missing if same_channel_names else len(theirs) < len(ours):
        raise DataError(f"{where}: channels {fit.channels} lack the training data's "
                        f"{missing or real.channels}")
