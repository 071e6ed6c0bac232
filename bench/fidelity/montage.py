"""A montage of cases with label overlays, so a person can see what a dataset holds."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.api.case import CaseSet  # noqa: E402

FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # what ``data show --out`` may write


def save_montage(cases: CaseSet, out: Path, max_cases: int = 8) -> Path:
    """For each case: every channel (middle slice of the most labelled axial slab) and overlay."""
    shown = cases.cases[:max_cases]
    n_ch = len(cases.channels)
    fig, axes = plt.subplots(len(shown), n_ch + 1, figsize=(2.4 * (n_ch + 1), 2.4 * len(shown)),
                             squeeze=False)
    for row, case in zip(axes, shown, strict=True):
        image, label = case.image, case.label
        if cases.spatial_dims == 3:
            k = int(np.argmax((label > 0).sum(axis=(0, 1))))
            image, label = image[..., k], label[..., k]
        for c in range(n_ch):
            row[c].imshow(np.rot90(image[c]), cmap="gray")
            row[c].set_title(f"{case.id} {cases.channels[c]}", fontsize=7)
        row[-1].imshow(np.rot90(image[0]), cmap="gray")
        overlay = np.ma.masked_equal(np.rot90(label), 0)
        row[-1].imshow(overlay, cmap="tab10", vmin=0, vmax=9, alpha=0.5, interpolation="nearest")
        row[-1].set_title("labels", fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
