"""Images of one kind (slices of a plane, or volumes) on [0, 1], with the case each came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class View:
    """Images (N, C, ...) in [0, 1] and, per image, the position of the case it comes from."""

    images: np.ndarray
    groups: np.ndarray

    def first(self, count: int) -> View:
        keep = self.groups < count
        return View(self.images[keep], self.groups[keep])

    def subset(self, max_images: int, seed: int) -> View:
        return self.take(self.choose(max_images, seed))

    def choose(self, max_images: int, seed: int) -> np.ndarray:
        """Sorted indices of a seeded random subset of at most ``max_images`` images."""
        if len(self.images) <= max_images:
            return np.arange(len(self.images))
        return np.sort(np.random.default_rng(seed).choice(len(self.images), max_images,
                                                          replace=False))

    def take(self, index: np.ndarray) -> View:
        return View(self.images[index], self.groups[index])

    def halves(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of two case-disjoint halves, each in a seeded random order."""
        rng = np.random.default_rng(seed)
        cases = rng.permutation(np.unique(self.groups))
        sides = [np.flatnonzero(np.isin(self.groups, cases[k::2])) for k in (0, 1)]
        return tuple(rng.permutation(side) for side in sides)


def volume_view(volumes: list[tuple[np.ndarray, np.ndarray]]) -> View:
    return View(np.stack([v for v, _ in volumes]), np.arange(len(volumes)))


def scale_unit(image: np.ndarray) -> np.ndarray:
    """Per channel, [min, 99.5th percentile] onto [0, 1]."""
    out = np.empty(image.shape, np.float32)
    for c, channel in enumerate(image):
        lo, hi = float(channel.min()), float(np.percentile(channel, 99.5))
        out[c] = np.clip((channel - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return out


def channel_of(images: np.ndarray, channel: int | None) -> np.ndarray:
    return images if channel is None else images[:, channel:channel + 1]


def views_note(views: dict[str, View], what: str) -> str:
    sizes = ", ".join(f"{name} {len(v.images)}" for name, v in views.items())
    return f"{what}; images per view: {sizes}"
