"""The one way a generator's or segmenter's parameters are resolved from a preset.

A preset is a named set of ``Params`` values (``tiny``, ``demo``, ``paper``); a config entry may
override any of them. Both kinds of component are then built the same way, ``cls(params)``:
the resolver, the conformance checks, the CLI and the tests all go through
:func:`preset_params`, so a preset never means one thing in a run and another in a check.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.api.errors import ConfigError, validated


def preset_params(cls: type, preset: str | None = None, overrides: Mapping | None = None,
                  kind: str = "component"):
    """``cls.Params`` from the preset's values (none: the defaults) with ``overrides`` on top,
    validated; an unknown preset or a bad value is a ConfigError naming the component."""
    presets = cls.presets
    if preset is not None and preset not in presets:
        raise ConfigError(f"{kind} '{cls.name}': unknown preset '{preset}' "
                          f"(known: {', '.join(presets) or 'none'})")
    return validated(cls.Params, {**presets.get(preset, {}), **(overrides or {})},
                     f"{kind} '{cls.name}' parameter")


def from_preset(cls: type, preset: str | None = None, **overrides):
    """A component built from a preset and overrides: ``cls(preset_params(...))``."""
    return cls(preset_params(cls, preset, overrides))
