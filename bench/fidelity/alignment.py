"""Image-label alignment: a real-only segmenter's Dice on images against their own masks.

Dice is averaged per case, and a slice's Dice is lower than its volume's (edge slices hold
little of each class), so 2D samples' alignment is read against held-out real cases cut into
slices the same way, never against the real-only cell's per-volume Dice.
"""

from __future__ import annotations

from bench.api.case import CaseSet
from bench.api.slices import extract_slices
from bench.fidelity.catalogue import MIN_FOREGROUND, PLANES, Row
from bench.fidelity.reference import Reference
from metrics.segmentation import evaluate


def alignment_row(reference: Reference | None, reference_note: str | None,
                  cases: CaseSet) -> Row:
    """Mean over cases of the mean Dice over classes of the reference's predictions.

    Of real test cases, this is the real-only segmenter's own Dice on them.
    """
    if reference is None:
        return Row("alignment_dice", None, reference_note or "no real-only segmenter")
    if reference.spatial_dims == 3 and cases.spatial_dims != 3:
        return Row("alignment_dice", None, f"the real-only segmenter {reference.label} is 3D "
                   "and the samples are 2D")
    table = evaluate(cases, reference.predict(cases), "synthetic", hd95=False)
    dice = table[table.metric == "dice"].groupby("case", sort=False).value.mean().mean()
    return Row("alignment_dice", float(dice), f"segmenter: {reference.label}")


def real_alignment_row(reference: Reference | None, reference_note: str | None,
                       heldout: CaseSet, spatial_dims: int, axis: int) -> Row:
    """The alignment of held-out real cases cut as ``spatial_dims``-D samples are (2D: slices
    along ``axis``, the dataset's slicing axis)."""
    if len(heldout) == 0:
        return Row("alignment_dice_real", None, "no held-out real cases")
    cases, unit = heldout, "cases"
    if spatial_dims == 2 and heldout.spatial_dims == 3:
        cases = extract_slices(heldout, axis=axis, min_foreground=MIN_FOREGROUND).cases
        unit = f"{PLANES[axis]} slices with >= {MIN_FOREGROUND:.0%} labelled pixels, each a case"
        if len(cases) == 0:
            return Row("alignment_dice_real", None, f"no held-out real {unit}")
    row = alignment_row(reference, reference_note, cases)
    note = row.note if row.value is None else f"held-out real {unit}; {row.note}"
    return Row("alignment_dice_real", row.value, note)
