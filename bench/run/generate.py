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

from bench.api.case import CaseSet
from bench.api.errors import ConfigError
from bench.api.generator import SampleContext
from bench.api.registry import get_generator
from bench.data import write_nnunet
from bench.data.leakage import image_fingerprint
from bench.data.split import fingerprint
from bench.run.artifacts import build_generator, fit_into
from bench.run.config import GeneratorSpec
from bench.run.sources import INFO, read_info

# what the data gives, recorded so a matrix can check a fitted folder against its own data:
# labels and channels sampled, and the images learned from (no test case may be among them)
DERIVED = ("labels", "channels", "spatial_dims", "cases")


def fit_generator(spec: GeneratorSpec, data: CaseSet, out: Path, seed: int, device: str,
                  progress: Callable | None = None, log: logging.Logger | None = None) -> Path:
    """Fit (or resume fitting) ``spec`` on ``data`` into ``out``; returns the model folder."""
    generator = build_generator(spec)
    info = {"name": spec.name, "preset": spec.preset, "params": spec.params, "seed": seed,
            "version": generator.version, "data": fingerprint(data)}
    path = out / INFO
    if path.exists() and _has_progress(out):
        old = {k: v for k, v in read_info(out).items() if k not in DERIVED}
        if old != info:
            changed = sorted(k for k in info if old.get(k) != info[k])
            raise ConfigError(f"{out} holds another fit (different {', '.join(changed)}); "
                              "choose another --out")
    elif not path.exists() and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out}: folder is not empty and holds no synth2seg fit; choose a new "
                          "or empty --out")
    out.mkdir(parents=True, exist_ok=True)
    derived = {"labels": data.labels, "channels": data.channels,
               "spatial_dims": data.spatial_dims,
               "cases": sorted({image_fingerprint(case) for case in data})}
    path.write_text(json.dumps({**info, **derived}, indent=1))
    return fit_into(generator, data, out, seed, device, progress, log)


def _has_progress(out: Path) -> bool:
    """Checkpoints or a saved model: what a different fit must not resume or replace. A folder
    whose fit stopped before its first checkpoint (e.g. refused data) is taken over."""
    return (out / "model").exists() or any((out / "work").glob("*.pt"))


def load_generator(folder: Path):
    """The fitted generator saved in ``folder`` by :func:`fit_generator`."""
    path = folder / INFO
    if not path.exists() or not (folder / "model").exists():
        raise ConfigError(f"{folder}: not a fitted generator (run 'synth2seg generator fit' "
                          "first)")
    return get_generator(read_info(folder)["name"]).load(folder / "model")


def sample_generator(folder: Path, n: int, ctx: SampleContext, out: Path) -> CaseSet:
    """``n`` samples of a fitted generator, written to ``out`` as an nnU-Net v2 raw dataset."""
    cases = load_generator(folder).sample(n, ctx)
    write_nnunet(cases, out, name=f"{folder.name} samples", overwrite=True)  # out is claimed
    return cases
