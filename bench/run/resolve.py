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
from pathlib import Path
from typing import Literal

from bench.api.errors import ConfigError
from bench.api.generator import ReadsFolder
from bench.api.presets import preset_params
from bench.run.config import GeneratorSpec, MatrixConfig, SegmenterSpec
from bench.run.sources import FITTED_PARTS, content_digest, fitted_info

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
    # generators read from a folder (bench.run.sources): where it lies now, not identity ...
    source: str | None = None
    content: str | None = None  # ... its content hash, the identity in place of the params
    fitted: bool = False  # source is a 'synth2seg generator fit' folder, not a dataset
    fit_data: str | None = None  # generators: the dataset fitted on, if not the training split

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def fit_identity(self) -> str:
        """What is fitted: kind, name, version, resolved params (not its label) and the fit
        data when it is not the run's training split; for a component read from a folder, the
        folder's content instead of the params."""
        if self.content is not None:
            return _digest({"kind": self.kind, "name": self.name, "version": self.version,
                            "content": self.content})
        data = {"fit_data": self.fit_data} if self.fit_data is not None else {}
        return _digest({"kind": self.kind, "name": self.name, "version": self.version,
                        "params": self.params, **data})

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
        """A fresh instance of the component with exactly these params (a fitted one: loaded)."""
        cls = component_class(self.kind, self.name)
        if self.fitted:
            return cls.load(Path(self.source) / "model")
        return cls(cls.Params(**self.params))

    def describe(self) -> dict:
        """What the run's manifest records for it."""
        out = {"kind": self.kind, "name": self.name, "label": self.label,
               "version": self.version, "preset": self.preset, "identity": self.identity,
               "params": self.params}
        if self.kind == "generator":
            out.update(style=self.style, count_unit=self.count_unit, fit_data=self.fit_data)
        if self.source is not None:
            out.update(source=self.source, content=self.content, fitted=self.fitted)
        return out


def component_class(kind: Kind, name: str):
    if kind == "generator":
        from bench.api.registry import get_generator

        return get_generator(name)
    from bench.api.registry import get_segmenter

    return get_segmenter(name)


def resolve(kind: Kind, spec: GeneratorSpec | SegmenterSpec) -> Component:
    """``spec`` with its preset's values under its own params, validated by the class."""
    if isinstance(spec, GeneratorSpec) and spec.fitted is not None:
        return _resolve_fitted(spec)
    cls = component_class(kind, spec.name)
    params = preset_params(cls, spec.preset, spec.params, kind)
    canonical = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    style, unit = (spec.style, spec.count_unit) if isinstance(spec, GeneratorSpec) \
        else (None, "samples")
    source = content = None
    if kind == "generator" and isinstance(reader := cls(params), ReadsFolder):
        folder = reader.folder()
        if not folder.is_dir():
            raise ConfigError(f"generator '{spec.display}': {folder} is not a folder (expected "
                              "a dataset of pre-generated cases)")
        source, content = str(folder.resolve()), content_digest(folder)
    fit_data = spec.fit_data if isinstance(spec, GeneratorSpec) else None
    if fit_data is not None and source is not None:
        raise ConfigError(f"generator '{spec.display}' reads its cases from {source}; it is "
                          "not fitted, so fit_data does not apply")
    return Component(kind, spec.name, str(cls.version), canonical,
                     spec.display, spec.preset, style, unit, source, content, fit_data=fit_data)


def _resolve_fitted(spec: GeneratorSpec) -> Component:
    """A generator fitted into ``spec.fitted``: named by the content of its model and
    generator.json; its params are informational (what it was fitted with)."""
    cls = component_class("generator", spec.name)
    folder = Path(spec.fitted).expanduser()
    info = fitted_info(folder, spec.name, str(cls.version))
    recorded = json.dumps({k: info.get(k) for k in ("preset", "params", "seed", "data")},
                          sort_keys=True)
    return Component("generator", spec.name, str(cls.version), recorded, spec.display,
                     info.get("preset"), spec.style, spec.count_unit, str(folder.resolve()),
                     content_digest(folder, FITTED_PARTS), fitted=True)


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
        if not component.fitted:  # a fitted one loads when it samples, not at every resolve
            component.build()  # constructors check what Params alone cannot (e.g. patch dims)
    return Resolved(tuple(c for _, c in generators), tuple(c for _, c in segmenters))


def config_key(config: MatrixConfig, resolved: Resolved) -> str:
    """:meth:`MatrixConfig.key` with every generator read from a folder named by the folder's
    content, not its path, so that a moved folder is the same config; the same as
    ``config.key()`` for a config without one, so existing run folders keep their key."""
    if not any(g.source for g in resolved.generators):
        return config.key()
    specs, components = [], iter(resolved.generators)  # in the order of the entries
    for spec in config.generators:
        component = None if spec.name == "none" else next(components)
        if component is not None and component.source is not None:
            spec = spec.model_copy(update={"params": {}, "fitted": component.content})
        specs.append(spec)
    return config.model_copy(update={"generators": specs}).key()


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
