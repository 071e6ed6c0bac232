"""Fidelity, diversity, alignment and memorisation of generated samples against the real data.

:class:`FidelityJudge` holds the real side of a run (training and held-out cases, their features,
computed once) and measures one generator's samples at every count of the matrix, giving the
rows of the store's ``fidelity`` table: ``(metric, value, note)``. A metric that cannot be
computed here (weights missing, no real-only segmenter, too few images) gets no value and a
one-line note saying why and what to do; it is never a zero.

How samples are compared with real data:

- **Unit.** 2D samples are compared with axial slices (axis 2) of the real volumes, resized to
  the samples' size; 3D samples with the real volumes, the FIDs taken the MedGen3D way over
  axial, coronal and sagittal slices (each view's FID, then their mean). Slices with less than
  10% labelled pixels are left out on both sides.
- **Intensities.** Every sample (a 2D sample, or a whole volume before slicing) is scaled per
  channel from its minimum to its 99.5th percentile onto [0, 1], as the segmenters normalise per
  case too; channels are measured one at a time as grey images and their results averaged.
- **Sets.** Real images are the training split the generator was fitted on; at most
  ``max_images`` images per view and side are used (a seeded random subset).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.case import CaseSet
from bench.slices import fit_slices
from metrics.distribution import frechet_distance, kernel_distance
from metrics.diversity import MSSSIM, LPIPSDistance, mean_pairwise, random_pairs
from metrics.features import EncoderFeatures, InceptionFeatures, Unavailable, extract
from metrics.memorisation import memorisation, thumbnails
from metrics.segmentation import evaluate

# column order of the leaderboard; the text is the column's legend
METRICS = {
    "fid": "FID, Inception v3 features (lower is better)",
    "kid": "KID, Inception v3 features (lower is better)",
    "fd_indomain": "Fréchet distance on the real-only segmenter's bottleneck features; "
                   "in-domain, comparable only within this run (lower is better)",
    "kid_indomain": "KID on the real-only segmenter's bottleneck features (lower is better)",
    "lpips": "mean pairwise LPIPS between synthetic samples (diversity; higher is more varied)",
    "lpips_real": "the same between real training images, for reference",
    "ms_ssim": "mean pairwise MS-SSIM between synthetic samples (lower is more varied)",
    "ms_ssim_real": "the same between real training images, for reference",
    "alignment_dice": "Dice of the real-only segmenter's prediction on each synthetic image "
                      "against the sample's own mask (higher: images follow their masks)",
    "memorisation": "fraction of synthetic samples that are near-copies of a training sample "
                    "(nearest-neighbour distance below the threshold times held-out real's)",
    "nn_ratio": "median nearest-training-neighbour distance of synthetic samples relative to "
                "held-out real samples' (about 1: as novel as new real data; 0: copies)",
}
VIEWS_3D = {"axial": 2, "coronal": 1, "sagittal": 0}
MIN_FOREGROUND = 0.1


@dataclass
class Row:
    metric: str
    value: float | None
    note: str | None = None


@dataclass
class View:
    """Images (N, C, H, W) in [0, 1] and, per image, the position of the case it comes from."""

    images: np.ndarray
    groups: np.ndarray

    def first(self, count: int) -> View:
        keep = self.groups < count
        return View(self.images[keep], self.groups[keep])

    def subset(self, max_images: int, seed: int) -> View:
        if len(self.images) <= max_images:
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self.images), max_images,
                                                          replace=False))
        return View(self.images[keep], self.groups[keep])


class Reference:
    """The real-only segmenter of the run: bottleneck features and predictions."""

    def __init__(self, segmenter, model, label: str, device: str = "cpu"):
        self.segmenter, self.model, self.label, self.device = segmenter, model, label, device
        self.spatial_dims = segmenter.spatial_dims

    def features(self) -> EncoderFeatures:
        net = self.segmenter.network(self.model, self.device)
        return EncoderFeatures(net, tuple(self.segmenter.params.patch), self.device)

    def predict(self, cases: CaseSet) -> list[np.ndarray]:
        return self.segmenter.predict(self.model, cases, self.device)


@dataclass
class FidelityOptions:
    weights_dir: str | None = None
    max_images: int = 1000
    pairs: int = 100
    near_copy: float = 1 / 3
    seed: int = 0
    device: str = "cpu"


class FidelityJudge:
    def __init__(self, real: CaseSet, heldout: CaseSet, options: FidelityOptions,
                 reference: Reference | None = None, reference_note: str | None = None,
                 inception=None, lpips=None, log: logging.Logger | None = None):
        """``inception`` / ``lpips`` replace the weight-loading extractors (tests inject them)."""
        self.real, self.heldout, self.options = real, heldout, options
        self.reference, self.reference_note = reference, reference_note
        self.log = log or logging.getLogger("synth2seg.fidelity")
        self._inception, self._lpips = self._load(inception, lpips)
        self._cache: dict = {}

    def _load(self, inception, lpips):
        o = self.options
        if inception is None:
            try:
                inception = InceptionFeatures.find(o.weights_dir, o.device)
            except Unavailable as exc:
                inception = exc
        if lpips is None:
            try:
                lpips = LPIPSDistance.find(o.weights_dir, o.device)
            except Unavailable as exc:
                lpips = exc
        return inception, lpips

    # ------------------------------------------------------------------------------------
    def measure(self, samples: CaseSet, counts: list[int]) -> dict[int, list[Row]]:
        """Rows per count; ``samples`` holds at least ``max(counts)`` samples in their order."""
        if samples.spatial_dims == 3 and self.real.spatial_dims != 3:
            note = "3D samples of 2D real data: nothing to compare them with"
            return {n: [Row(m, None, note) for m in METRICS] for n in counts}
        samples = samples.subset(range(min(max(counts), len(samples))))
        # the synthetic side is prepared once; every count takes a prefix of it
        if samples.spatial_dims == 3:
            volumes = self._volumes(samples)
            views, whole = self._slice_views(volumes), _volume_view(volumes)
        else:
            views, whole = self._views(samples, samples), None
        out = {}
        for n in sorted(counts):
            part = samples.subset(range(min(n, len(samples))))
            fake = {name: view.first(n) for name, view in views.items()}
            fake_whole = whole.first(n) if whole is not None else None
            out[n] = [
                *self._distribution(part, fake, fake_whole, "inception", ("fid", "kid")),
                *self._distribution(part, fake, fake_whole, "in-domain",
                                    ("fd_indomain", "kid_indomain")),
                *self._diversity(part, fake), self.alignment(part),
                *self._memorisation(part, fake, fake_whole)]
        return out

    # views --------------------------------------------------------------------------------
    def _views(self, cases: CaseSet, like: CaseSet) -> dict[str, View]:
        """The images compared: one "2d" view, or the three views of volumes."""
        if like.spatial_dims == 2:
            size = like[0].spatial_shape
            if cases.spatial_dims == 2:
                fitted = fit_slices(cases, size)
                return {"2d": View(np.stack([_scale(c.image) for c in fitted]),
                                   np.arange(len(cases)))}
            view = cases.slices(axis=2, size=size, min_foreground=MIN_FOREGROUND)
            return {"2d": View(np.stack([_scale(c.image) for c in view.cases]),
                               np.array([i for i, _ in view.index]))}
        return self._slice_views(self._volumes(cases))

    @staticmethod
    def _slice_views(volumes: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, View]:
        """Axial, coronal and sagittal slices of scaled volumes with enough labelled pixels."""
        out = {}
        for name, axis in VIEWS_3D.items():
            images, groups = [], []
            for i, (volume, label) in enumerate(volumes):
                for k in range(volume.shape[axis + 1]):
                    if (np.take(label, k, axis=axis) > 0).mean() >= MIN_FOREGROUND:
                        images.append(np.take(volume, k, axis=axis + 1))
                        groups.append(i)
            if images:
                out[name] = View(np.stack(images), np.array(groups))
        return out

    def _volumes(self, cases: CaseSet) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scaled volumes and labels on the real data's grid (its first case's shape)."""
        shape = self.real[0].spatial_shape
        out = []
        for case in cases:
            image, label = _scale(case.image), case.label
            if case.spatial_shape != shape:
                image = F.interpolate(torch.as_tensor(image)[None], size=shape,
                                      mode="trilinear", align_corners=False)[0].numpy()
                label = F.interpolate(torch.as_tensor(label[None, None]).float(), size=shape,
                                      mode="nearest")[0, 0].numpy().astype(label.dtype)
            out.append((image, label))
        return out

    def _real_volumes(self, which: str) -> View:
        """The real training (or held-out) volumes, scaled, on the real grid; computed once."""
        key = ("volumes", which)
        if key not in self._cache:
            cases = self.real if which == "real" else self.heldout
            self._cache[key] = _volume_view(self._volumes(cases))
        return self._cache[key]

    def _real_views(self, like: CaseSet, which: str = "real") -> dict[str, View]:
        key = (which, like.spatial_dims, like[0].spatial_shape if like.spatial_dims == 2 else 0)
        if key not in self._cache:
            cases = self.real if which == "real" else self.heldout
            views = self._views(cases, like)
            self._cache[key] = {name: v.subset(self.options.max_images, self.options.seed)
                                for name, v in views.items()}
        return self._cache[key]

    # metrics ------------------------------------------------------------------------------
    def _distribution(self, samples: CaseSet, fake: dict[str, View], whole: View | None,
                      kind: str, names: tuple[str, str]) -> list[Row]:
        try:
            extractor = self._extractor(kind, samples)
        except Unavailable as exc:
            return [Row(name, None, str(exc)) for name in names]
        real = self._real_views(samples)
        if kind == "in-domain" and self.reference.spatial_dims == 3:
            real, fake = {"3d": self._real_volumes("real")}, {"3d": whole}
        elif kind == "in-domain" and samples.spatial_dims == 3:
            real, fake = {"axial": real["axial"]}, {"axial": fake["axial"]}
        fds, kids = [], []
        try:
            for name, view in fake.items():
                view = view.subset(self.options.max_images, self.options.seed)
                for channel in self._channels(extractor, view):
                    a = self._features(extractor, real[name], channel)
                    b = extract(extractor, _channel(view.images, channel))
                    fds.append(frechet_distance(a, b))
                    kids.append(kernel_distance(a, b, seed=self.options.seed)[0])
        except (ValueError, KeyError) as exc:
            note = f"not computed: {exc}"
            return [Row(name, None, note) for name in names]
        note = _views_note(fake, "Inception" if kind == "inception" else
                           f"encoder of {self.reference.label}")
        return [Row(names[0], float(np.mean(fds)), note), Row(names[1], float(np.mean(kids)),
                                                               note)]

    def _extractor(self, kind: str, samples: CaseSet):
        if kind == "inception":
            if isinstance(self._inception, Exception):
                raise self._inception
            return self._inception
        if self.reference is None:
            raise Unavailable(self.reference_note or "no real-only segmenter to take features "
                              "from: add strategy 'real' to the matrix")
        if self.reference.spatial_dims == 3 and samples.spatial_dims != 3:
            raise Unavailable(f"the real-only segmenter {self.reference.label} is 3D and the "
                              "samples are 2D")
        if "extractor" not in self._cache:
            self._cache["extractor"] = self.reference.features()
        return self._cache["extractor"]

    def _channels(self, extractor, view: View) -> list[int | None]:
        return list(range(view.images.shape[1])) if extractor.per_channel else [None]

    def _features(self, extractor, view: View, channel) -> np.ndarray:
        """Features of a cached real view (views live as long as the judge: ids are unique)."""
        key = ("features", extractor.name, id(view), channel)
        if key not in self._cache:
            self._cache[key] = extract(extractor, _channel(view.images, channel))
        return self._cache[key]

    def _diversity(self, samples: CaseSet, fake: dict[str, View]) -> list[Row]:
        o = self.options
        real = self._real_views(samples)
        rows = []
        measures = [("lpips", self._lpips), ("ms_ssim", None)]
        for name, distance in measures:
            if isinstance(distance, Exception):
                rows += [Row(name, None, str(distance)), Row(f"{name}_real", None,
                                                            str(distance))]
                continue
            for side, views in ((name, fake), (f"{name}_real", real)):
                key = ("diversity", side, id(views))
                if side.endswith("_real") and key in self._cache:
                    rows.append(self._cache[key])
                    continue
                try:
                    values = []
                    for view in views.values():
                        pairs = random_pairs(len(view.images), o.pairs, o.seed, view.groups)
                        measure = distance or MSSSIM(view.images.shape[2:])
                        values += [mean_pairwise(measure, _channel(view.images, c), pairs)
                                   for c in range(view.images.shape[1])]
                    row = Row(side, float(np.mean(values)), _views_note(views, side))
                except ValueError as exc:
                    row = Row(side, None, f"not computed: {exc}")
                self._cache[key] = row
                rows.append(row)
        return rows

    def alignment(self, cases: CaseSet) -> Row:
        """Mean over cases of the mean Dice over classes of the reference's predictions.

        Of real test cases, this is the real-only segmenter's own Dice on them.
        """
        if self.reference is None:
            return Row("alignment_dice", None, self.reference_note or "no real-only segmenter")
        if self.reference.spatial_dims == 3 and cases.spatial_dims != 3:
            return Row("alignment_dice", None, f"the real-only segmenter "
                       f"{self.reference.label} is 3D and the samples are 2D")
        table = evaluate(cases, self.reference.predict(cases), "synthetic", hd95=False)
        dice = table[table.metric == "dice"].groupby("case", sort=False).value.mean().mean()
        return Row("alignment_dice", float(dice), f"segmenter: {self.reference.label}")

    def _memorisation(self, samples: CaseSet, fake: dict[str, View], whole: View | None
                      ) -> list[Row]:
        if len(self.heldout) == 0:
            note = "no held-out real cases to scale distances by"
            return [Row(m, None, note) for m in ("memorisation", "nn_ratio")]
        if samples.spatial_dims == 3:
            train, held, synthetic = (thumbnails(v.images) for v in (
                self._real_volumes("real"), self._real_volumes("heldout"), whole))
            unit = "volumes"
        else:
            train, held, synthetic = (thumbnails(v["2d"].images) for v in (
                self._real_views(samples), self._real_views(samples, "heldout"), fake))
            unit = "slices"
        try:
            result = memorisation(train, held, synthetic, self.options.near_copy)
        except ValueError as exc:
            return [Row(m, None, f"not computed: {exc}") for m in ("memorisation", "nn_ratio")]
        note = (f"{unit}; near-copy: distance < {self.options.near_copy:.3g} x the held-out "
                "median")
        return [Row("memorisation", result.near_copies, note),
                Row("nn_ratio", result.median_ratio, note)]


def _volume_view(volumes: list[tuple[np.ndarray, np.ndarray]]) -> View:
    return View(np.stack([v for v, _ in volumes]), np.arange(len(volumes)))


def _scale(image: np.ndarray) -> np.ndarray:
    """Per channel, [min, 99.5th percentile] onto [0, 1]."""
    out = np.empty(image.shape, np.float32)
    for c, channel in enumerate(image):
        lo, hi = float(channel.min()), float(np.percentile(channel, 99.5))
        out[c] = np.clip((channel - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return out


def _channel(images: np.ndarray, channel: int | None) -> np.ndarray:
    return images if channel is None else images[:, channel:channel + 1]


def _views_note(views: dict[str, View], what: str) -> str:
    sizes = ", ".join(f"{name} {len(v.images)}" for name, v in views.items())
    return f"{what}; images per view: {sizes}"
