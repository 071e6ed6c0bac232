"""Fit a generator into a folder and sample from it: what ``synth2seg generator`` does.

A generator folder holds ``generator.json`` (name, preset, params, seed, the training data's
fingerprint), ``work/`` (stage checkpoints and training curves) and ``model/`` (the saved
generator, written when the fit has finished). Running the same fit again resumes from ``work/``;
a folder that holds another generator or data is refused rather than overwritten.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from bench.artifacts import build_generator, fit_into
from bench.case import CaseSet
from bench.config import GeneratorSpec
from bench.data import write_nnunet
from bench.errors import ConfigError
from bench.split import fingerprint
from generators.protocol import SampleContext
from generators.registry import get_generator

INFO = "generator.json"


def fit_generator(spec: GeneratorSpec, data: CaseSet, out: Path, seed: int, device: str,
                  progress: Callable | None = None, log: logging.Logger | None = None) -> Path:
    """Fit (or resume fitting) ``spec`` on ``data`` into ``out``; returns the model folder."""
    generator = build_generator(spec)
    info = {"name": spec.name, "preset": spec.preset, "params": spec.params, "seed": seed,
            "version": getattr(generator, "version", "0"), "data": fingerprint(data)}
    out.mkdir(parents=True, exist_ok=True)
    path = out / INFO
    if path.exists():
        old = json.loads(path.read_text())
        if old != info:
            changed = sorted(k for k in info if old.get(k) != info[k])
            raise ConfigError(f"{out} holds another fit (different {', '.join(changed)}); "
                              "choose another --out")
    else:
        path.write_text(json.dumps(info, indent=1))
    return fit_into(generator, data, out, seed, device, progress, log)


def load_generator(folder: Path):
    """The fitted generator saved in ``folder`` by :func:`fit_generator`."""
    path = folder / INFO
    if not path.exists() or not (folder / "model").exists():
        raise ConfigError(f"{folder}: not a fitted generator (run 'synth2seg generator fit' "
                          "first)")
    info = json.loads(path.read_text())
    return get_generator(info["name"]).load(folder / "model")


def sample_generator(folder: Path, n: int, ctx: SampleContext, out: Path) -> CaseSet:
    """``n`` samples of a fitted generator, written to ``out`` as an nnU-Net v2 raw dataset."""
    cases = load_generator(folder).sample(n, ctx)
    write_nnunet(cases, out, name=f"{folder.name} samples")
    return cases
