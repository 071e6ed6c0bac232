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
    """Foreground value → its share of the labelled voxels of ``cases``, pooled: every named
    foreground label (0.0 when absent) and every other non-zero value the masks hold, so that a
    value the labels do not name is counted, never dropped."""
    counts = np.zeros(max(cases.labels) + 1)
    for case in cases:
        found = np.bincount(case.label.ravel().astype(np.int64))
        if len(found) > len(counts):
            counts = np.pad(counts, (0, len(found) - len(counts)))
        counts[:len(found)] += found
    foreground = counts[1:].sum()
    if foreground == 0:
        raise ValueError("no labelled voxel in the masks")
    values = {v for v in cases.labels if v} | {int(v) for v in np.flatnonzero(counts) if v}
    return {v: counts[v] / foreground for v in sorted(values)}


def share_error(real: CaseSet, fake: CaseSet) -> float:
    """Mean relative error of the fake masks' label shares over the labels real masks have
    (values the fake masks hold besides those count through the shares they take from them)."""
    ours, theirs = label_shares(real), label_shares(fake)
    errors = [abs(theirs.get(v, 0.0) - share) / share for v, share in ours.items() if share > 0]
    return float(np.mean(errors))
