"""The fidelity metrics a run can give: names, legends, extractors and the protocol columns."""

from __future__ import annotations

from dataclasses import dataclass

from metrics.features import (
    InceptionFeatures,
    MedicalNetFeatures,
    RadImageNetFeatures,
)
from metrics.spec import MetricSpec


@dataclass(frozen=True)
class ExtractorNames:
    """The metric names one feature extractor gives, and how the legend calls its features."""

    fd: str
    kid: str
    tag: str
    features: str

    @property
    def all(self) -> list[str]:
        return [self.fd, f"{self.fd}_floor", self.kid, f"{self.kid}_floor",
                *(f"{m}_{self.tag}" for m in PRDC)]


EXTRACTORS = {
    "inception": ExtractorNames("fid", "kid", "inception", "Inception v3 features"),
    "radimagenet": ExtractorNames("fid_radimagenet", "kid_radimagenet", "radimagenet",
                                  "RadImageNet ResNet-50 features"),
    "medicalnet": ExtractorNames("fid_medicalnet", "kid_medicalnet", "medicalnet",
                                 "MedicalNet 3D ResNet-10 features (whole volumes)"),
    "in-domain": ExtractorNames("fd_indomain", "kid_indomain", "indomain",
                                "the real-only segmenter's bottleneck features; in-domain, "
                                "comparable only within this run"),
}
FINDERS = {"inception": InceptionFeatures, "radimagenet": RadImageNetFeatures,
           "medicalnet": MedicalNetFeatures}
PRDC = {
    "precision": "share of synthetic samples inside the real k-NN manifold (fidelity; "
                 "higher is better)",
    "recall": "share of real samples inside the synthetic k-NN manifold (diversity; "
              "higher is better)",
    "density": "mean count of real k-NN balls holding a synthetic sample, / k (fidelity; "
               "about 1 for real data)",
    "coverage": "share of real samples whose k-NN ball holds a synthetic sample (diversity; "
                "higher is better)",
}
DEFAULT_EXTRACTORS = ("inception", "in-domain")


def _legends() -> dict[str, str]:
    out = {}
    for names in EXTRACTORS.values():
        what = names.features
        out[names.fd] = f"Fréchet distance, {what} (lower is better)"
        out[f"{names.fd}_floor"] = ("the same between two disjoint halves of the real "
                                    "training data at the synthetic n: the value of a "
                                    "perfect generator")
        out[names.kid] = f"KID, {what} (lower is better)"
        out[f"{names.kid}_floor"] = "the same between two halves of the real data (floor)"
        out.update({f"{m}_{names.tag}": f"{text}; {what}" for m, text in PRDC.items()})
    return out


# column order of the leaderboard; the text is the column's legend
METRICS = {
    **_legends(),
    "lpips": "mean pairwise LPIPS between synthetic samples (diversity; higher is more varied)",
    "lpips_real": "the same between real training images, for reference",
    "ms_ssim": "mean pairwise MS-SSIM between synthetic samples (lower is more varied)",
    "ms_ssim_real": "the same between real training images, for reference",
    "label_share_error": "mean relative error of each foreground label's share of the labelled "
                         "voxels in the synthetic masks against the real training masks "
                         "(0: structures as frequent as in real data)",
    "label_share_error_real": "the same for the real held-out masks, for reference",
    "alignment_dice": "Dice of the real-only segmenter's prediction on each synthetic image "
                      "against the sample's own mask (higher: images follow their masks)",
    "alignment_dice_real": "the same segmenter's Dice on held-out real cases cut as the samples "
                           "are (2D slices or volumes): the value of images that follow their "
                           "masks as real ones do",
    "memorisation": "fraction of synthetic samples that are near-copies of a training sample "
                    "(nearest-neighbour distance below the threshold times held-out real's)",
    "nn_ratio": "median nearest-training-neighbour distance of synthetic samples relative to "
                "held-out real samples' (about 1: as novel as new real data; 0: copies)",
}
# which way is better; metrics left out have no direction: references (_floor, _real) and
# figures whose best value is that of real data (density and nn_ratio near 1, LPIPS, MS-SSIM)
_LOWER = {*(n.fd for n in EXTRACTORS.values()), *(n.kid for n in EXTRACTORS.values()),
          "label_share_error", "memorisation"}
_HIGHER = {*(f"{m}_{n.tag}" for n in EXTRACTORS.values() for m in ("precision", "recall",
                                                                     "coverage")),
           "alignment_dice"}
SPECS = {name: MetricSpec(name, True if name in _HIGHER else False if name in _LOWER else None,
                          legend=legend) for name, legend in METRICS.items()}

OTHER_METRICS = ["lpips", "lpips_real", "ms_ssim", "ms_ssim_real", "label_share_error",
                 "label_share_error_real", "alignment_dice",
                 "alignment_dice_real", "memorisation", "nn_ratio"]
VIEWS_3D = {"axial": 2, "coronal": 1, "sagittal": 0}
PLANES = {axis: plane for plane, axis in VIEWS_3D.items()}  # RAS+ axis -> the plane it cuts
MIN_FOREGROUND = 0.1
PROTOCOL = ["extractor", "weights_sha256", "preprocessing", "views", "n_real", "n_fake"]


def metric_names(extractors=DEFAULT_EXTRACTORS) -> list[str]:
    """The rows one measurement gives, in leaderboard order."""
    chosen = [m for key in EXTRACTORS if key in extractors for m in EXTRACTORS[key].all]
    return [m for m in METRICS if m in chosen or m in OTHER_METRICS]


@dataclass
class Row:
    metric: str
    value: float | None
    note: str | None = None
    # the protocol (distribution metrics): what a reader needs to reproduce the value
    extractor: str | None = None
    weights_sha256: str | None = None
    preprocessing: str | None = None
    views: str | None = None
    n_real: int | None = None
    n_fake: int | None = None


@dataclass
class FidelityOptions:
    weights_dir: str | None = None
    max_images: int = 1000
    pairs: int = 100
    near_copy: float = 1 / 3
    seed: int = 0
    device: str = "cpu"
    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS
    planes: tuple[str, ...] = tuple(VIEWS_3D)
    nearest_k: int = 5
    offline: bool = False
