"""Quick checks of what a generator produced, shared by the generator issues' quality figures.

These answer "do the sampled masks have the real anatomy's proportions?" and "does each tissue
have the contrast of the style's sequence?". The fidelity metrics of the leaderboard (FID, LPIPS,
...) live in ``metrics/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.api.case import CaseSet
from bench.api.slices import extract_slices
from generators.intensity import to_unit


def quality_parser(doc: str) -> argparse.ArgumentParser:
    """The options every generator's quality script shares (data, budget, device, output)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--data", default="phantom:A:16:2.0:T1+FLAIR")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--set", nargs="*", default=[], help="generator params key=value")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--segmenter-steps", type=int, default=600)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    return parser


def prepare(args: argparse.Namespace) -> tuple[str, dict, dict[str, CaseSet], dict]:
    """The device, the generator params, the seeded 3:1 train/held-out split of ``--data`` and
    the results' header, as every quality script starts."""
    from bench.data import open_dataset
    from bench.data.split import split_cases
    from bench.run.config import parse_overrides
    from bench.run.devices import resolve_device

    device = resolve_device(args.device)
    params = parse_overrides(args.set)
    parts = split_cases(open_dataset(args.data), {"train": 0.75, "heldout": 0.25}, seed=0)
    results = {"data": args.data, "preset": args.preset, "params": params, "device": device,
               "timings": {}}
    return device, params, parts, results


def fit_timed(name: str, args: argparse.Namespace, train: CaseSet, device: str, params: dict,
              results: dict, folder: str | None = None):
    """Fit generator ``name`` (``--preset``, ``params``) into OUT/``folder``, record the time as
    ``timings[<name>_fit_s]`` and return the fitted generator loaded back from disk."""
    from bench.run.config import GeneratorSpec
    from bench.run.generate import fit_generator, load_generator

    started = time.time()
    spec = GeneratorSpec(name=name, preset=args.preset, params=params)
    fit_generator(spec, train, args.out / (folder or name), 0, device)
    results["timings"][f"{name}_fit_s"] = time.time() - started
    return load_generator(args.out / (folder or name))


def write_results(out: Path, results: dict) -> dict:
    """OUT/quality.json, echoed to stdout."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1)
    (out / "quality.json").write_text(text)
    print(text)
    return results


def real_slices(cases: CaseSet, size: tuple[int, int], axis: int, min_foreground: float,
                fit: str) -> CaseSet:
    """Real slices exactly as a slice generator sees them: scaled, selected and resized."""
    scaled = cases.replace([to_unit(c) for c in cases])
    return extract_slices(scaled, axis=axis, size=size, min_foreground=min_foreground,
                          fit=fit).cases


def alignment_dice(train: CaseSet, tests: dict[str, CaseSet], steps: int, device: str,
                   workdir: Path, segmenter: str = "unet2d") -> dict[str, dict[str, float]]:
    """Foreground Dice, mean and per class, of a segmenter (demo preset) trained on the real
    ``train`` (slices for unet2d, volumes for unet3d), on each test set. On real held-out data it
    is the ceiling; on images generated from held-out masks it says how faithfully a
    generator's images follow their masks."""
    from bench.api.strategies import parse_strategy
    from bench.run.experiment import Experiment, run_experiment

    params: dict = {"steps": steps}
    if segmenter == "unet2d":
        params["patch"] = list(train[0].spatial_shape)
    exp = Experiment(segmenter, parse_strategy("real"), "demo", params, 0, device, False)
    table = run_experiment(exp, {"real": train}, tests, workdir)
    dice = table[(table.metric == "dice") & (table["class"] != "background")]
    return {name: {"mean": float(g.value.mean()),
                   **{c: float(v) for c, v in g.groupby("class").value.mean().items()}}
            for name, g in dice.groupby("test_set")}


def class_fractions(cases: CaseSet) -> dict[str, float]:
    """Mean fraction of pixels (voxels) per foreground label over the cases."""
    fractions = {name: [] for v, name in cases.labels.items() if v}
    for case in cases:
        counts = np.bincount(case.label.ravel(), minlength=max(cases.labels) + 1) / case.label.size
        for v, name in cases.labels.items():
            if v:
                fractions[name].append(counts[v])
    return {name: float(np.mean(f)) for name, f in fractions.items()}


def class_fraction_error(real: CaseSet, fake: CaseSet) -> dict[str, float]:
    """Per label, |mean fraction in ``fake`` - in ``real``| relative to ``real``'s, and the mean.

    Relative errors put small structures (CSF, lesions) on the same footing as large ones.
    """
    ours, theirs = class_fractions(real), class_fractions(fake)
    errors = {name: abs(theirs[name] - f) / f for name, f in ours.items() if f > 0}
    errors["mean"] = float(np.mean(list(errors.values())))
    return errors


def class_means(cases: CaseSet, channel: int = 0) -> dict[str, float]:
    """Mean intensity of each foreground label in one channel, pooled over the cases."""
    sums, counts = {}, {}
    for case in cases:
        for v, name in cases.labels.items():
            inside = case.label == v
            if v and inside.any():
                sums[name] = sums.get(name, 0.0) + float(case.image[channel][inside].sum())
                counts[name] = counts.get(name, 0) + int(inside.sum())
    return {name: sums[name] / counts[name] for name in sums}


def contrast_order(means: dict[str, float]) -> list[str]:
    """Labels from brightest to darkest."""
    return sorted(means, key=means.get, reverse=True)
