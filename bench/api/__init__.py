"""The contract every plugin imports: cases, strategies, errors, protocols and registries.

Imports nothing else of synth2seg, so an adapter depends on this and on nothing of the harness.
Names are loaded on first use, so ``from bench.api.errors import ...`` (the CLI's first import)
does not pay for torch and MONAI.
"""

import importlib

_WHERE = {
    "case": ("Case", "CaseSet"),
    "errors": ("ConfigError", "DataError", "UserError"),
    "generator": ("CHANNELS", "FitContext", "Generator", "LESION_RATIO", "PaintsMasks",
                  "ReadsFolder", "STYLE", "SampleContext", "TakesSamplingOptions"),
    "presets": ("from_preset", "preset_params"),
    "registry": ("generators", "get_generator", "get_segmenter", "segmenters"),
    "segmenter": ("ExposesEncoder", "Segmenter", "TrainContext", "TrainedModel"),
    "slices": ("SliceSet",),
    "strategies": ("Stage", "Strategy", "parse_strategy"),
}
_MODULE = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
    if name not in _MODULE:
        raise AttributeError(f"module 'bench.api' has no attribute '{name}'")
    return getattr(importlib.import_module(f"bench.api.{_MODULE[name]}"), name)


def __dir__() -> list[str]:
    return __all__
