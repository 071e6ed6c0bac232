"""Name → class registries, filled by built-ins and by other packages' entry points.

The harness looks generators and segmenters up by name and never imports a concrete one, so a
third party adds theirs by declaring an entry point in their own package:

    [project.entry-points."synth2seg.generators"]
    my-gan = "my_package.gan:MyGan"
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from bench.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Built-ins are ``"module:attribute"`` strings, imported only when asked for."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str] | None = None):
        self.kind, self.group = kind, group
        self._lazy: dict[str, str] = dict(builtins or {})
        self._loaded: dict[str, type[T]] = {}

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        """Register ``cls`` under ``name`` (default: ``cls.name``); usable as a decorator."""
        key = name or cls.name
        self._loaded[key] = cls
        return cls

    def names(self) -> list[str]:
        plugins = {ep.name for ep in entry_points(group=self.group)}
        return sorted(set(self._lazy) | set(self._loaded) | plugins)

    def get(self, name: str) -> type[T]:
        if name in self._loaded:
            return self._loaded[name]
        target = self._lazy.get(name)
        if target is None:
            found = [ep for ep in entry_points(group=self.group) if ep.name == name]
            if not found:
                near = difflib.get_close_matches(name, self.names(), n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise ConfigError(f"unknown {self.kind} '{name}' (known: "
                                  f"{', '.join(self.names()) or 'none'}){hint}")
            cls = found[0].load()
        else:
            module, _, attribute = target.partition(":")
            cls = getattr(importlib.import_module(module), attribute)
        self._loaded[name] = cls
        return cls
