"""Fidelity, diversity, alignment and memorisation of generated samples against the real data.

:class:`FidelityJudge` holds the real side of a run (training and held-out cases, their features,
computed once) and measures one generator's samples at every count of the matrix, giving the
rows of the store's ``fidelity`` table: ``(metric, value, note)`` and, for the distribution
metrics, the protocol a reader needs to reproduce them (extractor, weights' SHA-256,
preprocessing, views, n per side). A metric that cannot be computed here (weights missing
offline, no real-only segmenter, too few images) gets no value and a one-line note saying why
and what to do; it is never a zero.

How samples are compared with real data:

- **Extractors** (``fidelity.extractors``): ``inception`` (FID/KID), ``radimagenet``,
  ``medicalnet`` (3D) and ``in-domain`` (the real-only segmenter's bottleneck). Each gives the
  Fréchet distance, KID, precision / recall / density / coverage, and the **floors**: the same
  distances between two disjoint halves of the real training cases at the synthetic side's n,
  i.e. what a perfect generator would score at that sample size.
- **Unit.** 2D samples are compared with slices of the real volumes along the dataset's
  slicing axis (the one the generators and 2D segmenters cut along: axial, axis 2, on the
  phantom), resized to the samples' size. 3D samples: 2D extractors see axial, coronal and
  sagittal slices (the "2.5D" FID of MAISI and MedGen3D: each plane's value, then their mean;
  ``fidelity.planes`` narrows the planes), the in-domain one (a 2D segmenter's encoder) the
  plane of the slicing axis; 3D extractors see whole volumes on the real grid. Slices with less
  than 10% labelled pixels are left out on both sides.
- **Intensities.** Every sample (a 2D sample, or a whole volume before slicing) is scaled per
  channel from its minimum to its 99.5th percentile onto [0, 1], as the segmenters normalise per
  case too; channels are measured one at a time as grey images and their results averaged.
- **Sets.** Real images are the training split the generator was fitted on: a seeded pool of at
  most ``2 x max_images`` images per view, of which ``max_images`` are compared with the
  samples, and whose two case-disjoint halves give the floors.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from bench.api.case import CaseSet
from bench.api.slices import extract_slices, fit_slices
from bench.data.geometry import slicing_axis
from bench.fidelity.alignment import alignment_row, real_alignment_row
from bench.fidelity.catalogue import (
    EXTRACTORS,
    FINDERS,
    METRICS,
    MIN_FOREGROUND,
    PLANES,
    PRDC,
    VIEWS_3D,
    FidelityOptions,
    Row,
    metric_names,
)
from bench.fidelity.compare import compare, diversity_protocol
from bench.fidelity.reference import Reference
from bench.fidelity.views import View, channel_of, scale_unit, views_note, volume_view
from metrics.diversity import MSSSIM, LPIPSDistance, mean_pairwise, random_pairs
from metrics.features import (
    Unavailable,
    extract,
)
from metrics.label_shares import share_error
from metrics.memorisation import memorisation, thumbnails


class FidelityJudge:
    def __init__(self, real: CaseSet, heldout: CaseSet, options: FidelityOptions,
                 reference: Reference | None = None, reference_note: str | None = None,
                 inception=None, lpips=None, extractors: dict | None = None,
                 log: logging.Logger | None = None):
        """``inception`` / ``lpips`` / ``extractors`` (by key) replace the weight-loading
        extractors (tests inject them); the others are loaded when first needed."""
        self.real, self.heldout, self.options = real, heldout, options
        self.axis = slicing_axis(real)  # 2D samples are compared with real slices along it
        self.reference, self.reference_note = reference, reference_note
        self.log = log or logging.getLogger("synth2seg.fidelity")
        self._loaded = {**(extractors or {}), **({"inception": inception} if inception else {})}
        if lpips is not None:
            self._loaded["lpips"] = lpips
        self._cache: dict = {}

    def _load(self, key: str):
        """An extractor (or LPIPS) by key, loaded once; an :class:`Unavailable` is kept too."""
        if key not in self._loaded:
            o = self.options
            finder = LPIPSDistance if key == "lpips" else FINDERS[key]
            try:
                self._loaded[key] = finder.find(o.weights_dir, o.device, o.offline)
            except Unavailable as exc:
                self._loaded[key] = exc
        return self._loaded[key]

    @property
    def metrics(self) -> list[str]:
        return metric_names(self.options.extractors)

    # ------------------------------------------------------------------------------------
    def measure(self, samples: CaseSet, counts: list[int],
                fitted_on: str | None = None) -> dict[int, list[Row]]:
        """Rows per count; ``samples`` holds at least ``max(counts)`` samples in their order.

        ``fitted_on`` names the data a generator learnt from when it is not ``real``: near-copies
        of a training set it never saw say nothing about memorisation, so none are reported."""
        if samples.spatial_dims == 3 and self.real.spatial_dims != 3:
            note = "3D samples of 2D real data: nothing to compare them with"
            return {n: [Row(m, None, note) for m in self.metrics] for n in counts}
        samples = samples.subset(range(min(max(counts), len(samples))))
        # the synthetic side is prepared once; every count takes a prefix of it
        if samples.spatial_dims == 3:
            volumes = self._volumes(samples)
            views, whole = self._slice_views(volumes), volume_view(volumes)
        else:
            views, whole = self._views(samples, samples), None
        out = {}
        for n in sorted(counts):
            part = samples.subset(range(min(n, len(samples))))
            fake = {name: view.first(n) for name, view in views.items()}
            fake_whole = whole.first(n) if whole is not None else None
            rows = [row for key in EXTRACTORS if key in self.options.extractors
                    for row in self._distribution(part, fake, fake_whole, key)]
            rows += [*self._diversity(part, fake), *self._label_shares(part),
                     *self._alignments(part),
                     *self._memorisation(part, fake, fake_whole, fitted_on)]
            order = {m: i for i, m in enumerate(METRICS)}
            out[n] = sorted(rows, key=lambda r: order[r.metric])
        return out

    # views --------------------------------------------------------------------------------
    def _views(self, cases: CaseSet, like: CaseSet) -> dict[str, View]:
        """The images compared: one "2d" view, or the three views of volumes."""
        if like.spatial_dims == 2:
            size = like[0].spatial_shape
            if cases.spatial_dims == 2:
                fitted = fit_slices(cases, size)
                return {"2d": View(np.stack([scale_unit(c.image) for c in fitted]),
                                   np.arange(len(cases)))}
            view = extract_slices(cases, axis=self.axis, size=size,
                                  min_foreground=MIN_FOREGROUND)
            return {"2d": View(np.stack([scale_unit(c.image) for c in view.cases]),
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
            image, label = scale_unit(case.image), case.label
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
            self._cache[key] = volume_view(self._volumes(cases))
        return self._cache[key]

    def _all_real_views(self, like: CaseSet, which: str) -> dict[str, View]:
        key = ("all", which, like.spatial_dims,
               like[0].spatial_shape if like.spatial_dims == 2 else 0)
        if key not in self._cache:
            self._cache[key] = self._views(self.real if which == "real" else self.heldout, like)
        return self._cache[key]

    def _real_views(self, like: CaseSet, which: str = "real", scale: int = 1
                    ) -> dict[str, View]:
        """At most ``scale x max_images`` seeded real images per view (cached: ids are stable)."""
        key = (which, scale, like.spatial_dims,
               like[0].spatial_shape if like.spatial_dims == 2 else 0)
        if key not in self._cache:
            o = self.options
            self._cache[key] = {name: v.subset(scale * o.max_images, o.seed)
                                for name, v in self._all_real_views(like, which).items()}
        return self._cache[key]

    # distribution metrics -----------------------------------------------------------------
    def _distribution(self, samples: CaseSet, fake: dict[str, View], whole: View | None,
                      key: str) -> list[Row]:
        names = EXTRACTORS[key]
        try:
            extractor = self._extractor(key, samples)
            pools, fake, views = self._pairing(key, extractor, samples, fake, whole)
        except Unavailable as exc:
            return [Row(name, None, str(exc)) for name in names.all]
        o = self.options
        values: dict[str, list[float]] = {m: [] for m in names.all}
        errors: dict[str, str] = {}
        n_real = n_fake = n_floor = 0
        sizes, floor_sizes = {}, {}
        for name, view in fake.items():
            pool = pools[name]
            view = view.subset(o.max_images, o.seed)
            if len(view.images) == 0:  # the first n samples have no slice in this plane
                continue
            chosen = pool.choose(o.max_images, o.seed)
            half_a, half_b = pool.halves(o.seed)
            m = min(len(view.images), len(half_a), len(half_b))
            sizes[name], floor_sizes[name] = (len(chosen), len(view.images)), m
            n_real, n_fake, n_floor = n_real + len(chosen), n_fake + len(view.images), n_floor + m
            for channel in self._channels(extractor, view):
                features = self._features(extractor, pool, channel)
                a, b = features[chosen], extract(extractor, channel_of(view.images, channel))
                fa, fb = features[half_a[:m]], features[half_b[:m]]
                for metric, value in compare(names, a, b, fa, fb, o).items():
                    if isinstance(value, str):
                        errors.setdefault(metric, value)
                    else:
                        values[metric].append(value)
        what = "Inception" if key == "inception" else (
            f"encoder of {self.reference.label}" if key == "in-domain" else names.features)
        note = f"{what}; images per view (real/synthetic): " + ", ".join(
            f"{v} {r}/{f}" for v, (r, f) in sizes.items())
        floor_note = ("real vs real: two case-disjoint halves of the real training images, "
                      "per view and side: " + ", ".join(f"{v} {m}" for v, m in
                                                        floor_sizes.items()))
        protocol = dict(extractor=extractor.label, weights_sha256=extractor.sha256,
                        preprocessing=extractor.preprocessing, views=views)
        rows = []
        for metric in names.all:
            floor = metric.endswith("_floor")
            sides = (n_floor, n_floor) if floor else (n_real, n_fake)
            prdc = metric in {f"{m}_{names.tag}" for m in PRDC}
            text = floor_note if floor else (f"k = {o.nearest_k}; {note}" if prdc else note)
            found = values[metric]
            if metric in errors or not found:
                text = f"not computed: {errors.get(metric, 'no images to compare')}"
            rows.append(Row(metric, float(np.mean(found)) if found and metric not in errors
                            else None, text, **protocol, n_real=sides[0], n_fake=sides[1]))
        return rows

    def _pairing(self, key: str, extractor, samples: CaseSet, fake: dict[str, View],
                 whole: View | None) -> tuple[dict[str, View], dict[str, View], str]:
        """Real pools and synthetic views to compare, by view name, and the views' description."""
        o = self.options
        channels = (" each channel measured alone, then averaged" if extractor.per_channel
                    and samples.channels and len(samples.channels) > 1 else "")
        if extractor.spatial_dims == 3:
            if samples.spatial_dims != 3:
                raise Unavailable(f"{extractor.label} takes volumes and the samples are 2D")
            if "volume-pool" not in self._cache:  # one object: features are cached by its id
                self._cache["volume-pool"] = self._real_volumes("real").subset(
                    2 * o.max_images, o.seed)
            pool = self._cache["volume-pool"]
            return {"volume": pool}, {"volume": whole}, "whole volumes on the real grid" + \
                (";" + channels if channels else "")
        pools = self._real_views(samples, scale=2)
        plane = PLANES[self.axis]  # what 2D generators and 2D segmenters see
        if samples.spatial_dims == 2:
            return pools, fake, (f"2D samples vs {plane} slices (axis {self.axis}) of the real "
                                 f"volumes with >= {MIN_FOREGROUND:.0%} labelled pixels, "
                                 "resized to the samples' size"
                                 + (";" + channels if channels else ""))
        planes = [plane] if key == "in-domain" else [p for p in o.planes if p in fake]
        if not planes:
            raise Unavailable(f"no slices with >= {MIN_FOREGROUND:.0%} labelled pixels in the "
                              f"planes {', '.join(o.planes)}")
        mode = f"2D segmenter: {plane} slices" if key == "in-domain" else (
            f"2.5D: {', '.join(planes)} slices, the mean over planes")
        views = (f"{mode}, slices with >= {MIN_FOREGROUND:.0%} labelled pixels on both sides"
                 + (";" + channels if channels else ""))
        return {p: pools[p] for p in planes}, {p: fake[p] for p in planes}, views

    def _extractor(self, key: str, samples: CaseSet):
        if key != "in-domain":
            loaded = self._load(key)
            if isinstance(loaded, Exception):
                raise loaded
            return loaded
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
            self._cache[key] = extract(extractor, channel_of(view.images, channel))
        return self._cache[key]

    def _diversity(self, samples: CaseSet, fake: dict[str, View]) -> list[Row]:
        o = self.options
        real = self._real_views(samples)
        rows = []
        measures = [("lpips", self._load("lpips")), ("ms_ssim", None)]
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
                        values += [mean_pairwise(measure, channel_of(view.images, c), pairs)
                                   for c in range(view.images.shape[1])]
                    row = Row(side, float(np.mean(values)), views_note(views, side),
                              **diversity_protocol(distance, views))
                except ValueError as exc:
                    row = Row(side, None, f"not computed: {exc}")
                self._cache[key] = row
                rows.append(row)
        return rows

    def _label_shares(self, samples: CaseSet) -> list[Row]:
        """Label shares of the samples' masks, and of held-out real masks (the same at every
        count, so measured once), against training's."""
        if "label_share_error_real" not in self._cache:
            self._cache["label_share_error_real"] = _share_row("label_share_error_real",
                                                               self.real, self.heldout)
        return [_share_row("label_share_error", self.real, samples),
                self._cache["label_share_error_real"]]

    def alignment(self, cases: CaseSet) -> Row:
        """The reference's mean Dice over ``cases`` (:func:`alignment_row`)."""
        return alignment_row(self.reference, self.reference_note, cases)

    def _alignments(self, samples: CaseSet) -> list[Row]:
        """The samples' alignment, and held-out real cases' cut as the samples are."""
        key = ("alignment_dice_real", samples.spatial_dims)
        if key not in self._cache:
            self._cache[key] = real_alignment_row(self.reference, self.reference_note,
                                                  self.heldout, samples.spatial_dims, self.axis)
        return [self.alignment(samples), self._cache[key]]

    def _memorisation(self, samples: CaseSet, fake: dict[str, View], whole: View | None,
                      fitted_on: str | None = None) -> list[Row]:
        if fitted_on is not None:
            note = (f"not measured: the generator was fitted on {fitted_on}, not on the "
                    "training split these distances are taken to")
            return [Row(m, None, note) for m in ("memorisation", "nn_ratio")]
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


def _share_row(metric: str, real: CaseSet, cases: CaseSet) -> Row:
    try:
        return Row(metric, share_error(real, cases))
    except ValueError as exc:
        return Row(metric, None, f"not computed: {exc}")
