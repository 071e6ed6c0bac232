"""Name → class registries of generators and segmenters, filled from entry points.

The harness looks adapters up by name and never imports a concrete one. Built-ins and third
parties register the same way, through an entry point of their distribution:

    [project.entry-points."synth2seg.generators"]
    my-gan = "my_package.gan:MyGan"

A class is checked against its protocol when it is registered or first looked up, so a missing
member is one line naming it, not a traceback in the middle of a run.
"""

from __future__ import annotations

import difflib
import inspect
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from bench.api.errors import ConfigError
from bench.api.generator import SAMPLING_OPTIONS, Generator, sampling_options
from bench.api.segmenter import Segmenter

T = TypeVar("T")


def protocol_members(protocol: type) -> list[str]:
    """The attributes and methods a protocol declares (its own and its bases')."""
    names: list[str] = []
    for base in reversed(protocol.__mro__):
        if base is object or base.__name__ in ("Protocol", "Generic"):
            continue
        names += [n for n in getattr(base, "__annotations__", {}) if n not in names]
        names += [n for n, v in vars(base).items()
                  if not n.startswith("_") and (inspect.isfunction(v) or isinstance(v, classmethod))
                  and n not in names]
    return names


def missing_members(cls: type, protocol: type) -> list[str]:
    """What ``cls`` lacks of ``protocol`` (empty when it conforms)."""
    return [n for n in protocol_members(protocol) if not hasattr(cls, n)]


class Registry(Generic[T]):
    """Adapters of one kind, by name: registered in code or found through entry points."""

    def __init__(self, kind: str, group: str, protocol: type):
        self.kind, self.group, self.protocol = kind, group, protocol
        self._loaded: dict[str, type[T]] = {}

    def check(self, cls: type, origin: str) -> type[T]:
        """``cls`` if it declares everything of the protocol; else a ConfigError naming the gap."""
        missing = missing_members(cls, self.protocol)
        if missing:
            raise ConfigError(f"{self.kind} {origin} does not implement the "
                              f"{self.protocol.__name__} protocol: missing {', '.join(missing)}")
        unknown = sorted(sampling_options(cls) - SAMPLING_OPTIONS) \
            if self.protocol is Generator else []
        if unknown:
            known = ", ".join(sorted(SAMPLING_OPTIONS))
            raise ConfigError(f"{self.kind} {origin} declares unknown sampling_options "
                              f"{', '.join(unknown)} (known: {known})")
        return cls

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        """Register ``cls`` under ``name`` (default: ``cls.name``); usable as a decorator."""
        key = name or getattr(cls, "name", None) or cls.__name__
        self._loaded[key] = self.check(cls, f"'{key}' ({cls.__module__}.{cls.__qualname__})")
        return cls

    def unregister(self, name: str) -> None:
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        plugins = {ep.name for ep in entry_points(group=self.group)}
        return sorted(set(self._loaded) | plugins)

    def get(self, name: str) -> type[T]:
        if name in self._loaded:
            return self._loaded[name]
        found = [ep for ep in entry_points(group=self.group) if ep.name == name]
        if not found:
            near = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"unknown {self.kind} '{name}' (known: "
                              f"{', '.join(self.names()) or 'none'}){hint}")
        cls = self.check(found[0].load(), f"'{name}' ({found[0].value})")
        self._loaded[name] = cls
        return cls


generators: Registry[Generator] = Registry("generator", "synth2seg.generators", Generator)
segmenters: Registry[Segmenter] = Registry("segmenter", "synth2seg.segmenters", Segmenter)


def get_generator(name: str) -> type[Generator]:
    return generators.get(name)


def get_segmenter(name: str) -> type[Segmenter]:
    return segmenters.get(name)
