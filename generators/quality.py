"""Quick checks of what a generator produced, shared by the generator issues' quality figures.

These answer "do the sampled masks have the real anatomy's proportions?" and "does each tissue
have the contrast of the style's sequence?". The fidelity metrics of the leaderboard (FID, LPIPS,
...) live in ``metrics/``.
"""

from __future__ import annotations

import numpy as np

from bench.case import CaseSet


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
