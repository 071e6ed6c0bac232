"""A fitted generator on disk: its params, its typed fitted state, its networks and curves.

Every family keeps what sampling needs in a ``@dataclass`` (its ``State``) and inherits
:class:`FittedGenerator`, which saves and loads it the same way for all of them:

- ``fitted.pt``: params, the state's fields and the networks' weights, written with ``torch.save``
  and read back with ``weights_only=True`` (:func:`bench.api.checkpoints.load_checkpoint`), so a
  shared model folder can never run code;
- ``meta.json``: the same params and the state's readable fields, for people;
- ``curve_<stage>.csv``: the training curve of each stage.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pydantic
import torch
from torch import nn

from bench.api.checkpoints import load_checkpoint, plain
from bench.api.errors import ConfigError, DataError
from bench.api.seeding import seeded_global_rng
from generators.intensity import IntensityRange

FILE = "fitted.pt"
FORMAT = 2  # 1: one untyped state dict per family, in <family>.pt
REFIT = "fit it again with `synth2seg generator fit`"


class FittedGenerator(ABC):
    """Params, fitted ``state`` (an instance of ``State``), ``nets`` and ``curves``, with the
    save/load every family shares; a family says which networks its state needs."""

    name: ClassVar[str]
    Params: ClassVar[type[pydantic.BaseModel]]
    State: ClassVar[type]

    def __init__(self, params: pydantic.BaseModel | None = None):
        self.params = params or self.Params()
        self.state: Any = None  # an instance of ``State``, set by fit or load
        self.nets: dict[str, nn.Module] = {}
        self.curves: dict[str, pd.DataFrame] = {}

    @classmethod
    @abstractmethod
    def networks(cls, params, state) -> dict[str, nn.Module]:
        """Untrained networks of the shapes ``params`` and ``state`` give (load fills them)."""

    def fitted(self):
        """The fitted state; a clear error before ``fit`` or ``load``."""
        if self.state is None:
            raise ConfigError(f"generator '{self.name}' must be fitted (or loaded) before "
                              "sampling")
        return self.state

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params = self.params.model_dump(mode="json")
        fields = {f.name: getattr(self.fitted(), f.name) for f in dataclasses.fields(self.State)}
        torch.save({"format": FORMAT, "name": self.name, "params": params,
                    "state": {k: plain(_plain(v)) for k, v in fields.items()},
                    "nets": {k: net.state_dict() for k, net in self.nets.items()}},
                   path / FILE)
        readable = {k: _plain(v) for k, v in fields.items() if _readable(v)}
        (path / "meta.json").write_text(json.dumps(
            {"name": self.name, "format": FORMAT, "params": params, "state": readable},
            indent=1, default=str))
        for stage, curve in self.curves.items():
            curve.to_csv(path / f"curve_{stage}.csv", index=False)

    @classmethod
    def load(cls, path: Path):
        path = Path(path)
        blob = _read(path, cls.name)
        try:
            params = cls.Params(**blob["params"])
        except pydantic.ValidationError as exc:
            raise DataError(f"{path / FILE}: params do not validate "
                            f"({exc.errors()[0]['msg']}); {REFIT}") from None
        model = cls(params)
        model.state = _state(cls.State, blob["state"], path / FILE)
        with seeded_global_rng(0):  # initial weights are overwritten; the caller's RNG is kept
            nets = cls.networks(params, model.state)
        for key, net in nets.items():
            if key not in blob["nets"]:
                raise DataError(f"{path / FILE}: no weights for network '{key}'; {REFIT}")
            net.load_state_dict(blob["nets"][key])
            net.eval()
        model.nets = nets
        return model


def _read(path: Path, name: str) -> dict:
    """The contents of ``fitted.pt``, or one line saying why this folder cannot be loaded."""
    if not (path / FILE).exists():
        old = sorted(p.name for p in path.glob("*.pt"))
        found = f"it holds {', '.join(old)}, saved by an older synth2seg" if old else "not found"
        raise DataError(f"{path / FILE}: {found}; {REFIT}")
    blob = load_checkpoint(path / FILE)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else None
        raise DataError(f"{path / FILE}: saved in format {found}, this synth2seg reads format "
                        f"{FORMAT}; {REFIT}")
    if blob.get("name") != name:
        raise DataError(f"{path / FILE}: holds a fitted '{blob.get('name')}', not '{name}'")
    return blob


def _state(cls: type, saved: dict, where: Path):
    """``cls`` from saved fields, each brought back to its declared type; a field with a
    default came after older fits, which take the default (what they were fitted with)."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    missing = [f.name for f in fields if f.name not in saved and not _has_default(f)]
    if missing:
        raise DataError(f"{where}: fitted state has no field {', '.join(map(repr, missing))}; "
                        f"{REFIT}")
    return cls(**{f.name: _typed(hints[f.name], saved[f.name]) for f in fields
                  if f.name in saved})


def _has_default(field: dataclasses.Field) -> bool:
    return field.default is not dataclasses.MISSING or \
        field.default_factory is not dataclasses.MISSING


def _typed(hint, value):
    origin = typing.get_origin(hint) or hint
    if origin is IntensityRange:
        return IntensityRange.from_dict(value)
    if origin is np.ndarray:
        return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if origin is tuple:
        return tuple(value)
    if origin is dict and typing.get_args(hint)[:1] == (int,):
        return {int(k): v for k, v in value.items()}
    return value


def _plain(value):
    return value.to_dict() if isinstance(value, IntensityRange) else value


def _readable(value) -> bool:
    """Whether a field belongs in meta.json: not arrays or tensors (images, masks)."""
    return not isinstance(value, torch.Tensor | np.ndarray)
