"""One identity per component: spec → preset values merged → ``Params`` validated → identity.

Every key (fit, sample set, cell) and every leaderboard method id is computed from a
:class:`Component`, never from a preset's *name*: editing a preset, or a default of a ``Params``
class, changes the resolved params and with them the identity, so no stale fit or cell is
reused; two entries that differ only in ``params`` are two components.

Labels stay short (``name[:preset]`` unless the entry sets ``label:``) and must be unique within
a run: two entries that would show the same label are refused, with both named, rather than told
apart by a hash that nobody can read in a table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from bench.api.errors import ConfigError, validated
from bench.run.config import GeneratorSpec, MatrixConfig, SegmenterSpec

Kind = Literal["generator", "segmenter"]


@dataclass(frozen=True)
class Component:
    """A generator or segmenter with its params resolved; hashable and picklable."""

    kind: Kind
    name: str
    version: str
    params_json: str  # canonical JSON of the validated Params (every field, defaults included)
    label: str  # how tables name it; unique within a run
    preset: str | None = None  # where the params came from; informational, not identity
    style: str | None = None  # generators: the style dataset handed to sampling
    count_unit: str = "samples"  # generators: "samples" or "cases"

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def fit_identity(self) -> str:
        """What is fitted: kind, name, version and resolved params (not its label)."""
        return _digest({"kind": self.kind, "name": self.name, "version": self.version,
                        "params": self.params})

    @property
    def identity(self) -> str:
        """What the component is: the fitted model and how it is sampled (style, count unit).

        Without style or count unit this is :attr:`fit_identity`, so older keys stay valid;
        entries that differ only in style share one fit but are two methods.
        """
        sampling = {k: v for k, v in (("style", self.style), ("count_unit", self.count_unit))
                    if v not in (None, "samples")}
        if not sampling:
            return self.fit_identity
        return _digest({"fit": self.fit_identity, **sampling})

    def build(self):
        """A fresh instance of the component with exactly these params."""
        cls = component_class(self.kind, self.name)
        return cls(cls.Params(**self.params))

    def describe(self) -> dict:
        """What the run's manifest records for it."""
        out = {"kind": self.kind, "name": self.name, "version": self.version,
               "preset": self.preset, "identity": self.identity, "params": self.params}
        if self.kind == "generator":
            out.update(style=self.style, count_unit=self.count_unit)
        return out


def component_class(kind: Kind, name: str):
    if kind == "generator":
        from bench.api.registry import get_generator

        return get_generator(name)
    from bench.api.registry import get_segmenter

    return get_segmenter(name)


def resolve(kind: Kind, spec: GeneratorSpec | SegmenterSpec) -> Component:
    """``spec`` with its preset's values under its own params, validated by the class."""
    cls = component_class(kind, spec.name)
    presets = cls.presets
    if spec.preset is not None and spec.preset not in presets:
        raise ConfigError(f"{kind} '{spec.name}': unknown preset '{spec.preset}' "
                          f"(known: {', '.join(presets) or 'none'})")
    params = validated(cls.Params, {**presets.get(spec.preset, {}), **spec.params},
                       f"{kind} '{spec.name}' parameter")
    canonical = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    style, unit = (spec.style, spec.count_unit) if isinstance(spec, GeneratorSpec) \
        else (None, "samples")
    return Component(kind, spec.name, str(cls.version), canonical,
                     spec.display, spec.preset, style, unit)


NONE = Component("generator", "none", "1", "{}", "none")


@dataclass(frozen=True)
class Resolved:
    """A config's generators (``none`` left out) and segmenters, each resolved once."""

    generators: tuple[Component, ...]
    segmenters: tuple[Component, ...]

    def manifest(self) -> dict:
        return {"generators": [g.describe() for g in self.generators],
                "segmenters": [s.describe() for s in self.segmenters]}


def resolve_config(config: MatrixConfig) -> Resolved:
    """Resolve every entry and refuse two entries that share a label or an identity."""
    generators = [(i, resolve("generator", g)) for i, g in enumerate(config.generators)
                  if g.name != "none"]
    segmenters = [(i, resolve("segmenter", s)) for i, s in enumerate(config.segmenters)]
    _unique("generators", generators)
    _unique("segmenters", segmenters)
    for _, component in generators + segmenters:
        component.build()  # constructors check what Params alone cannot (e.g. patch dims)
    return Resolved(tuple(c for _, c in generators), tuple(c for _, c in segmenters))


def _unique(field: str, entries: list[tuple[int, Component]]) -> None:
    labels: dict[str, int] = {}
    identities: dict[str, int] = {}
    for index, component in entries:
        if component.label in labels:
            raise ConfigError(
                f"{field}[{labels[component.label]}] and {field}[{index}] are both labelled "
                f"'{component.label}': give each a distinct 'label:' so their rows stay apart")
        if component.identity in identities:
            raise ConfigError(
                f"{field}[{identities[component.identity]}] and {field}[{index}] resolve to the "
                f"same {component.kind} (same name, version and params): keep one of them")
        labels[component.label] = identities[component.identity] = index


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
