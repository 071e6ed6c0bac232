"""Content-addressed generator fits and sample sets.

A fit's key hashes everything that determines it (the generator's resolved identity: name,
version and every resolved param, never a preset's name; the fingerprint of the training split;
the seed); a sample set's key adds the count and the sampling options (style images by
content). A folder is complete when its ``done.json`` exists, written last, so an interrupted
fit or sampling is redone and a finished one is never recomputed. Each generator is sampled
once at the largest count of the matrix; smaller counts read a prefix of the same samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from bench.api.case import CaseSet
from bench.api.errors import DataError
from bench.api.generator import FitContext, SampleContext
from bench.api.registry import get_generator
from bench.api.slices import to_spacing
from bench.data import load_dataset, write_nnunet
from bench.data.geometry import DEFAULT_SLICE_AXIS, slicing_axis
from bench.data.leakage import image_fingerprint
from bench.data.split import fingerprint
from bench.run.config import GeneratorSpec
from bench.run.cost import measure
from bench.run.digest import damage, seal
from bench.run.experiment import check_compatible
from bench.run.resolve import Component, resolve
from bench.run.sources import FITTED_PARTS, content_digest, fitted_outputs, seen_images


def build_generator(spec: GeneratorSpec):
    """A generator from its preset (or defaults) with the spec's params overriding fields."""
    return resolve("generator", spec).build()


def fit_key(generator: Component, train: CaseSet, seed: int) -> str:
    """Identity, data and seed; the data's slicing axis (which generators cut along) when it is
    not axial, so that fits keyed before it was read keep their keys."""
    axis = slicing_axis(train)
    cut = {} if axis == DEFAULT_SLICE_AXIS else {"slice_axis": axis}
    return _hash({"generator": generator.fit_identity, "train": fingerprint(train),
                  "seed": seed, **cut})


def sample_key(fit: str, count: int, ctx: SampleContext, spacing: tuple[float, ...]) -> str:
    """Fit, count, sampling options (the style images' content included) and the voxel size
    the samples are brought to."""
    payload = {"fit": fit, "count": count, "seed": ctx.seed, "lesion_ratio": ctx.lesion_ratio,
               "channels": ctx.channels, "spacing": spacing}
    if ctx.style is not None:
        payload["style"] = [image_fingerprint(case) for case in ctx.style]
    return _hash(payload)


def ensure_fit(generator: Component, train: CaseSet, seed: int, root: Path, store,
               device: str, log=None) -> Path:
    """The folder of a fitted generator, fitting it only when no finished fit exists; a
    generator read from a folder (bench.run.sources) is never fitted: that folder is returned."""
    if generator.source is not None:
        return Path(generator.source)
    key = fit_key(generator, train, seed)
    folder = root / "fits" / key
    if _finished(folder):
        return folder
    with measure(device) as cost:
        fit_into(generator.build(), train, folder, seed, device, log=log)
    _finish(folder, {"generator": generator.label, "key": key, "cost": cost,
                     **generator.describe()})
    store.record_artifact(key, "fit", folder, generator.label)
    return folder


def fit_into(generator, train: CaseSet, folder: Path, seed: int, device: str,
             progress=None, log=None) -> Path:
    """Fit with checkpoints in ``folder/work`` (a re-run resumes) and save to ``folder/model``."""
    kwargs = {"log": log} if log is not None else {}
    generator.fit(train, FitContext(workdir=folder / "work", device=device, seed=seed,
                                    progress=progress, **kwargs))
    generator.save(folder / "model")
    return folder / "model"


def ensure_samples(generator: Component, fit_folder: Path, count: int, ctx: SampleContext,
                   root: Path, store, real: CaseSet, same_channel_names: bool = True) -> Path:
    """The folder of ``count`` samples of a fitted generator, sampling only when missing.

    Samples must have the ``real`` data's labels and channels; a generator that breaks this
    fails here, before its samples are stored and before any cell trains on them.
    """
    fit = fit_folder.name if generator.source is None else generator.fit_identity
    spacing = real_spacing(real)
    key = sample_key(fit, count, ctx, spacing)
    folder = root / "samples" / key
    if _finished(folder):
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    if generator.source is None:
        loaded = get_generator(generator.name).load(fit_folder / "model")
    else:
        loaded = _unchanged(generator).build()
    with measure(ctx.device) as cost:
        cases = loaded.sample(count, ctx)
    if len(cases) != count:
        raise RuntimeError(f"generator '{generator.label}' returned {len(cases)} samples, "
                           f"not {count}")
    check_compatible(real, cases, f"generator '{generator.label}' samples", same_labels=True,
                     same_channel_names=same_channel_names)
    cases = at_spacing(cases, spacing, slicing_axis(real))
    # ids that sort in sampling order, so that a prefix of the folder is a prefix of the samples
    renamed = [dataclasses.replace(c, id=f"sample_{i:05d}") for i, c in enumerate(cases)]
    write_nnunet(cases.replace(renamed), folder / "dataset", name=f"{generator.label} samples")
    _finish(folder, {"generator": generator.label, "key": key, "count": count, "cost": cost})
    store.record_artifact(key, "samples", folder, f"{generator.label} n={count}")
    return folder


def real_spacing(real: CaseSet) -> tuple[float, ...]:
    """The real data's voxel size: the median over its cases, per axis."""
    return tuple(float(v) for v in np.median([case.spacing for case in real], axis=0))


def at_spacing(samples: CaseSet, spacing: tuple[float, ...], axis: int) -> CaseSet:
    """Samples at the real data's voxel ``spacing``, so that a segmenter (which sees voxels)
    trains on anatomy of the real size. 2D samples of 3D data take its in-plane size across
    ``axis``, the slicing axis along which 2D segmenters and the fidelity views cut real
    volumes."""
    if samples.spatial_dims == 2 and len(spacing) == 3:
        spacing = tuple(s for i, s in enumerate(spacing) if i != axis)
    elif samples.spatial_dims != len(spacing):
        return samples  # 3D samples of 2D data: no real voxel size to match
    return samples.replace([to_spacing(case, spacing) for case in samples])


def check_sources(generators: tuple[Component, ...], real: CaseSet, tests: dict[str, CaseSet],
                  same_channel_names: bool = True) -> None:
    """Generators read from folders must sample the run's labels and channels, and a fitted one
    must not have learned from a test case: checked before anything trains."""
    for generator in generators:
        if generator.source is None:
            continue
        folder, role = Path(generator.source), f"generator '{generator.label}'"
        outputs = fitted_outputs(folder) if generator.fitted else _dataset(folder, role)
        if outputs is None:  # fitted before outputs were recorded: its samples are checked
            logging.getLogger("synth2seg").warning("%s: %s records no labels or training "
                                                   "images; fit it again to check them", role,
                                                   folder)
            continue
        check_compatible(real, outputs, role, same_labels=True,
                         same_channel_names=same_channel_names)
        seen = seen_images(folder) if generator.fitted else set()
        for name, cases in tests.items():
            leaked = [case.id for case in cases if image_fingerprint(case) in seen]
            if leaked:
                raise DataError(f"{role}: {folder} was fitted on test set '{name}' case "
                                f"{leaked[0]} ({len(leaked)} in all): a test case must never "
                                "be seen in training")


def _dataset(folder: Path, role: str) -> CaseSet:
    try:
        return load_dataset(folder)
    except DataError as exc:
        raise DataError(f"{role}: {exc}") from None


def _unchanged(generator: Component) -> Component:
    """``generator`` if its folder still holds what the run resolved (its identity)."""
    parts = FITTED_PARTS if generator.fitted else None
    if content_digest(Path(generator.source), parts) != generator.content:
        raise DataError(f"generator '{generator.label}': {generator.source} changed while the "
                        "run was going on; run again to use its new content")
    return generator


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
