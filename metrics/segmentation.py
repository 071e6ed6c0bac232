"""Per-case, per-class segmentation metrics: Dice, precision, recall, accuracy, HD95, NSD.

Counts come from MONAI's confusion matrix, HD95 from MONAI's Hausdorff distance and the
normalised surface distance (NSD, "surface Dice": the share of both boundaries within a tolerance
of the other, Nikolov et al. 2021) from MONAI's ``compute_surface_dice``, all in millimetres
through the case's spacing, so they agree with what the field reports (Metrics Reloaded
recommends NSD beside Dice: Dice hardly sees boundary errors of large structures).

Conventions for empty masks (class absent from truth, prediction or both), fixed here so every
leaderboard reads the same:

- both empty: Dice, precision and recall are 1 (nothing to find, nothing wrongly found);
- otherwise a 0/0 ratio is 0: an empty prediction of a present class gets Dice 0, and a
  prediction of an absent class gets precision 0;
- HD95 when exactly one mask is empty (a missed structure, or one predicted where there is
  none) is a declared worst-case distance, as Metrics Reloaded and BraTS score it: by default the
  diagonal of the image in mm (BraTS's ~374 mm is that of its 240x240x155 grid). Each such value
  is flagged in a companion ``hd95_penalised`` row (1 = penalised, 0 = measured), so every table
  can say how many there were. Leaving them out instead would let a method that misses the tumour
  win on HD95. When both masks are empty HD95 is undefined: NaN, excluded from means and counted;
- NSD follows Dice: 1 when both masks are empty, 0 when only one is (MONAI's convention).

NSD is the surface-area variant of Nikolov et al. (MONAI's ``use_subvoxels=True``): each piece of
boundary counts by its area in mm², not as one voxel, so anisotropic spacing weighs it correctly.
The tolerance is in mm, one for all classes or one per class name (the boundary accuracy that
matters differs between, say, a tumour and white matter).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_hausdorff_distance, compute_surface_dice, get_confusion_matrix

from bench.api.case import CaseSet
from metrics.spec import MetricSpec

_RATIO = {"low": 0.0, "high": 1.0}
SPECS = {spec.name: spec for spec in (
    MetricSpec("dice", True, **_RATIO, empty="1 when both masks are empty, 0 when one is",
               legend="Sørensen–Dice overlap"),
    MetricSpec("precision", True, **_RATIO, empty="1 when both are empty, 0 when only the "
               "prediction is not", legend="share of predicted voxels that are right"),
    MetricSpec("recall", True, **_RATIO, empty="1 when both are empty, 0 when only the "
               "truth is not", legend="share of true voxels found"),
    MetricSpec("accuracy", True, **_RATIO, legend="share of voxels labelled right"),
    MetricSpec("hd95", False, "mm", 0.0, empty="the worst-case distance (image diagonal) when "
               "one mask is empty, counted; excluded and counted when both are",
               legend="95th percentile Hausdorff distance"),
    MetricSpec("nsd", True, **_RATIO, empty="1 when both masks are empty, 0 when one is",
               legend="normalised surface distance (surface Dice) at a tolerance in mm"),
)}
METRICS = tuple(SPECS)
PENALISED = "hd95_penalised"  # companion rows: 1 where HD95 is the worst-case distance
NSD_TOLERANCE_MM = 1.0

Tolerance = float | Mapping[str, float]


def case_metrics(prediction: np.ndarray, truth: np.ndarray, labels: dict[int, str],
                 spacing: Sequence[float] | None = None, hd95: bool = True,
                 nsd: Tolerance | None = None, worst_distance: float | None = None
                 ) -> list[dict]:
    """Rows ``{class, metric, value}`` for every non-background label of one case.

    ``worst_distance`` (mm) is HD95 where exactly one mask is empty; None: the image diagonal.
    """
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction shape {prediction.shape} != truth shape {truth.shape}")
    classes = [v for v in sorted(labels) if v != 0]
    pred = _one_hot(prediction, classes)
    true = _one_hot(truth, classes)
    tp, fp, tn, fn = get_confusion_matrix(pred, true, include_background=True)[0].double().T
    both_empty = (tp + fp + fn) == 0
    values = {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
        "accuracy": (tp + tn) / (tp + fp + tn + fn),
    }
    if hd95:
        with warnings.catch_warnings():  # empty masks are handled below, by convention
            warnings.filterwarnings("ignore", message=".* is all 0")
            warnings.filterwarnings("ignore", category=FutureWarning)  # MONAI's own internals
            dist = compute_hausdorff_distance(
                pred, true, include_background=True, percentile=95,
                spacing=None if spacing is None else list(spacing))[0]
        pred_empty = (pred.sum(dim=tuple(range(2, pred.ndim))) == 0)[0]
        true_empty = (true.sum(dim=tuple(range(2, true.ndim))) == 0)[0]
        one_empty = pred_empty ^ true_empty
        worst = diagonal_mm(truth.shape, spacing) if worst_distance is None else worst_distance
        values["hd95"] = torch.where(pred_empty & true_empty, torch.nan,
                                     torch.where(one_empty, float(worst), dist.double()))
        values[PENALISED] = one_empty.double()
    if nsd is not None:
        tolerances = [_tolerance(nsd, labels[c]) for c in classes]
        with warnings.catch_warnings():  # empty masks: handled by convention, as for HD95
            warnings.filterwarnings("ignore", message=".* is all 0")
            warnings.filterwarnings("ignore", category=FutureWarning)
            surface = compute_surface_dice(pred, true, tolerances, include_background=True,
                                           spacing=None if spacing is None else list(spacing),
                                           use_subvoxels=True)[0].double()
        values["nsd"] = torch.where(both_empty, 1.0, torch.nan_to_num(surface, nan=0.0))
    return [{"class": labels[c], "metric": name, "value": float(v[i])}
            for name, v in values.items() for i, c in enumerate(classes)]


def evaluate(truth: CaseSet, predictions: Sequence[np.ndarray], test_set: str = "test",
             hd95: bool = True, nsd: Tolerance | None = None,
             worst_distance: float | None = None) -> pd.DataFrame:
    """One row per (test set, case, class, metric): the long table the store keeps."""
    if len(predictions) != len(truth):
        raise ValueError(f"{len(predictions)} predictions for {len(truth)} cases")
    rows = []
    for case, prediction in zip(truth, predictions, strict=True):
        for row in case_metrics(prediction, case.label, truth.labels, case.spacing, hd95=hd95,
                                nsd=nsd, worst_distance=worst_distance):
            rows.append({"test_set": test_set, "case": case.id, **row})
    return pd.DataFrame(rows, columns=["test_set", "case", "class", "metric", "value"])


def diagonal_mm(shape: Sequence[int], spacing: Sequence[float] | None) -> float:
    """The image's diagonal in mm: no two points of it are farther apart."""
    spacing = [1.0] * len(shape) if spacing is None else list(spacing)
    return float(np.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing, strict=True))))


def _tolerance(tolerance: Tolerance, name: str) -> float:
    if isinstance(tolerance, Mapping):
        return float(tolerance.get(name, tolerance.get("default", NSD_TOLERANCE_MM)))
    return float(tolerance)


def _one_hot(label: np.ndarray, classes: list[int]) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(label))
    return torch.stack([tensor == c for c in classes])[None].float()


def _ratio(numerator, denominator, both_empty):
    value = numerator / denominator.clamp(min=1)
    return torch.where(both_empty, torch.ones_like(value), value)
