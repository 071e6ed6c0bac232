"""How often each structure occurs in generated masks, against real masks.

The share of each foreground label among all labelled voxels (or pixels), pooled over the
cases. Shares within the foreground do not depend on the field of view, and slices drawn
evenly from volumes pool to their volumes' shares, so 2D samples compare with 3D real data.
The error is relative (|fake - real| / real, per label, then the mean): a structure of 1% of
the brain weighs as much as one of 50%. A generator that paints brain where the background
should be, or one structure in place of another, shows here even when its images follow their
masks (alignment) and look real (Fréchet distance).
"""

from __future__ import annotations

import numpy as np

from bench.api.case import CaseSet


def label_shares(cases: CaseSet) -> dict[int, float]:
    """Foreground label → its share of the labelled voxels of ``cases``, pooled."""
    counts = np.zeros(max(cases.labels) + 1)
    for case in cases:
        counts += np.bincount(case.label.ravel().astype(np.int64), minlength=len(counts))[
            :len(counts)]
    foreground = counts[1:].sum()
    if foreground == 0:
        raise ValueError("no labelled voxel in the masks")
    return {v: counts[v] / foreground for v in cases.labels if v}


def share_error(real: CaseSet, fake: CaseSet) -> float:
    """Mean relative error of the fake masks' label shares over the labels real masks have."""
    ours, theirs = label_shares(real), label_shares(fake)
    errors = [abs(theirs.get(v, 0.0) - share) / share for v, share in ours.items() if share > 0]
    return float(np.mean(errors))
