"""Intensity normalisation per channel kind, by nnU-Net's convention on ``channel_names``.

A channel named ``CT`` (any case) gets nnU-Net's ``CTNormalization``: clipped to the 0.5 and 99.5
percentiles of the training set's foreground voxels, then z-scored with the foreground's mean
and standard deviation; these statistics are the dataset's, computed once from the training
cases as nnU-Net's fingerprint does (10 000 foreground voxels drawn per case, seed 1234). Every
other channel is z-scored per case over its voxels above the channel's minimum (the brain in
skull-stripped MR), as synth2seg always did.
"""

from __future__ import annotations

import numpy as np

from bench.api.case import CaseSet, channel_map
from bench.api.errors import DataError

CT, ZSCORE = "CT", "zscore"
SAMPLES_PER_CASE, SEED = 10000, 1234  # nnU-Net's fingerprint defaults


def scheme(channel: str) -> str:
    """nnU-Net's mapping: ``ct`` (case-folded) is CT; the rest is z-scored per case."""
    return CT if channel.casefold() == "ct" else ZSCORE


def plan_normalisation(cases: CaseSet) -> dict:
    """Per channel of ``cases`` (the training set): its scheme and, for CT, the dataset's
    foreground statistics. What the segmenter applies and the run's manifest records."""
    out = []
    for c, name in enumerate(cases.channels):
        entry: dict = {"channel": name, "scheme": scheme(name)}
        if entry["scheme"] == CT:
            entry.update(_foreground_statistics(cases, c, name))
        out.append(entry)
    return {"channels": out}


def _foreground_statistics(cases: CaseSet, channel: int, name: str) -> dict:
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import (
        DatasetFingerprintExtractor,
    )

    samples = []
    for case in cases:
        if case.label is None:
            continue
        image = np.asarray(case.image[channel:channel + 1])
        drawn, _ = DatasetFingerprintExtractor.collect_foreground_intensities(
            case.label[None], image, seed=SEED, num_samples=SAMPLES_PER_CASE)
        samples.append(np.asarray(drawn[0], dtype=np.float64))
    pooled = np.concatenate(samples) if samples else np.zeros(0)
    if not pooled.size:
        where = cases.meta.get("source", "the training data")
        raise DataError(f"{where}: channel '{name}' is CT but no training case has labelled "
                        "foreground to take its intensity statistics from")
    low, high = np.percentile(pooled, (0.5, 99.5))
    return {"percentile_00_5": float(low), "percentile_99_5": float(high),
            "mean": float(pooled.mean()), "std": float(pooled.std())}


def channel_terms(image: np.ndarray, plan: dict | None) -> tuple[tuple, ...]:
    """Per channel of one case's (C, *spatial) ``image``: (clip low, clip high, offset, divisor)
    of its normalisation, as :func:`bench.api.case.channel_map` applies them. CT: nnU-Net's
    ``CTNormalization`` (the dataset's percentiles, mean and sd from ``plan``); otherwise the
    case's own z-score over the voxels above the channel's minimum. One read computes them, so a
    cached case can be normalised slice by slice."""
    entries = (plan or {}).get("channels", [])
    terms = []
    for c, channel in enumerate(image):
        entry = entries[c] if c < len(entries) else {"scheme": ZSCORE}
        if entry["scheme"] == CT:  # CTNormalization.run: clip, - mean, / max(std, 1e-8)
            terms.append((entry["percentile_00_5"], entry["percentile_99_5"], entry["mean"],
                          max(entry["std"], 1e-8)))
        else:
            channel = np.asarray(channel, dtype=np.float32)
            inside = channel > channel.min()
            values = channel[inside] if inside.any() else channel
            terms.append((None, None, values.mean(), values.std() + 1e-6))
    return tuple(zip(*terms, strict=True))


def normalise_image(image: np.ndarray, plan: dict | None) -> np.ndarray:
    """A normalised copy of one case's (C, *spatial) ``image``; ``plan`` from
    :func:`plan_normalisation` on the training set, channel by channel in order (None: every
    channel z-scored per case)."""
    return channel_map(image, *channel_terms(image, plan)).load()
