"""Distances between two feature sets (Fréchet, KID, PRDC), each with its real-data floor."""

from __future__ import annotations

import numpy as np

from bench.fidelity.catalogue import PRDC, ExtractorNames, FidelityOptions
from bench.fidelity.views import View
from metrics.distribution import (
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)


def compare(names: ExtractorNames, a: np.ndarray, b: np.ndarray, fa: np.ndarray,
             fb: np.ndarray, o: FidelityOptions) -> dict[str, float | str]:
    """Real ``a`` vs synthetic ``b``, and the floor: real half ``fa`` vs real half ``fb``.

    A value per metric, or the reason (a string) it could not be computed.
    """
    def kid(x, y):
        return kernel_distance(x, y, seed=o.seed)[0]

    out: dict[str, float | str] = {}
    for metric, measure, x, y in ((names.fd, frechet_distance, a, b),
                                  (f"{names.fd}_floor", frechet_distance, fa, fb),
                                  (names.kid, kid, a, b), (f"{names.kid}_floor", kid, fa, fb)):
        try:
            out[metric] = measure(x, y)
        except ValueError as exc:
            out[metric] = str(exc)
    try:
        prdc = precision_recall_density_coverage(a, b, o.nearest_k)
    except ValueError as exc:
        prdc = {m: str(exc) for m in PRDC}
    out.update({f"{m}_{names.tag}": prdc[m] for m in PRDC})
    return out


def diversity_protocol(distance, views: dict[str, View]) -> dict:
    label = ("LPIPS v0.1, AlexNet trunk, grey replicated to RGB" if distance is not None
             else "MS-SSIM (MONAI), scales the image size allows")
    return dict(extractor=label, weights_sha256=distance.sha256 if distance is not None else None,
                views=", ".join(views), n_fake=sum(len(v.images) for v in views.values()))
