"""Content-addressed generator fits and sample sets.

A fit's key hashes everything that determines it (generator name and version, preset, params,
the fingerprint of the training split, the seed); a sample set's key adds the count and the
sampling options. A folder is complete when its ``done.json`` exists, written last, so an
interrupted fit or sampling is redone and a finished one is never recomputed. Each generator is
sampled once at the largest count of the matrix; smaller counts read a prefix of the same samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

from bench.case import CaseSet
from bench.config import GeneratorSpec
from bench.data import load_dataset, write_nnunet
from bench.digest import damage, seal
from bench.errors import ConfigError, validated
from bench.experiment import check_compatible
from bench.split import fingerprint
from generators.protocol import FitContext, SampleContext
from generators.registry import get_generator


def build_generator(spec: GeneratorSpec):
    """A generator from its preset (or defaults) with the spec's params overriding fields."""
    cls = get_generator(spec.name)
    presets = getattr(cls, "presets", {})
    if spec.preset is not None and spec.preset not in presets:
        raise ConfigError(f"generator '{spec.name}': unknown preset '{spec.preset}' "
                          f"(known: {', '.join(presets) or 'none'})")
    return cls(validated(cls.Params, {**presets.get(spec.preset, {}), **spec.params},
                         f"generator '{spec.name}' parameter"))


def fit_key(spec: GeneratorSpec, train: CaseSet, seed: int) -> str:
    cls = get_generator(spec.name)
    payload = {"name": spec.name, "version": getattr(cls, "version", "0"),
               "preset": spec.preset, "params": spec.params, "train": fingerprint(train),
               "seed": seed}
    return _hash(payload)


def sample_key(fit: str, count: int, ctx: SampleContext) -> str:
    return _hash({"fit": fit, "count": count, "seed": ctx.seed,
                  "lesion_ratio": ctx.lesion_ratio, "channels": ctx.channels})


def ensure_fit(spec: GeneratorSpec, train: CaseSet, seed: int, root: Path, store, device: str,
               log=None) -> Path:
    """The folder of a fitted generator, fitting it only when no finished fit exists."""
    key = fit_key(spec, train, seed)
    folder = root / "fits" / key
    if _finished(folder):
        return folder
    fit_into(build_generator(spec), train, folder, seed, device, log=log)
    _finish(folder, {"generator": spec.display, "key": key})
    store.record_artifact(key, "fit", folder, spec.display)
    return folder


def fit_into(generator, train: CaseSet, folder: Path, seed: int, device: str,
             progress=None, log=None) -> Path:
    """Fit with checkpoints in ``folder/work`` (a re-run resumes) and save to ``folder/model``."""
    kwargs = {"log": log} if log is not None else {}
    generator.fit(train, FitContext(workdir=folder / "work", device=device, seed=seed,
                                    progress=progress, **kwargs))
    generator.save(folder / "model")
    return folder / "model"


def ensure_samples(spec: GeneratorSpec, fit_folder: Path, count: int, ctx: SampleContext,
                   root: Path, store, real: CaseSet) -> Path:
    """The folder of ``count`` samples of a fitted generator, sampling only when missing.

    Samples must have the ``real`` data's labels and channels; a generator that breaks this
    fails here, before its samples are stored and before any cell trains on them.
    """
    key = sample_key(fit_folder.name, count, ctx)
    folder = root / "samples" / key
    if _finished(folder):
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    generator = get_generator(spec.name).load(fit_folder / "model")
    cases = generator.sample(count, ctx)
    if len(cases) != count:
        raise RuntimeError(f"generator '{spec.name}' returned {len(cases)} samples, not {count}")
    check_compatible(real, cases, f"generator '{spec.display}' samples", same_labels=True)
    # ids that sort in sampling order, so that a prefix of the folder is a prefix of the samples
    renamed = [dataclasses.replace(c, id=f"sample_{i:05d}") for i, c in enumerate(cases)]
    write_nnunet(cases.replace(renamed), folder / "dataset", name=f"{spec.display} samples")
    _finish(folder, {"generator": spec.display, "key": key, "count": count})
    store.record_artifact(key, "samples", folder, f"{spec.display} n={count}")
    return folder


def load_samples(folder: Path, count: int) -> CaseSet:
    cases = load_dataset(folder / "dataset")
    return cases.subset(range(count))


def _finish(folder: Path, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    seal(folder, folder / "done.json", info)


def _finished(folder: Path) -> bool:
    """A finished artifact whose files still match their recorded hashes; a damaged one is
    removed here so that it is rebuilt from scratch (its key says it will be the same)."""
    if not (folder / "done.json").exists():
        return False
    reason = damage(folder, folder / "done.json")
    if reason is None:
        return True
    logging.getLogger("synth2seg").warning("rebuilding %s: %s", folder, reason)
    shutil.rmtree(folder)
    return False


def _hash(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
