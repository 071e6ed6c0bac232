"""Training batches: which items a step draws, cropped and augmented.

Each step draws with a generator seeded by (seed, step), so a run resumed from a checkpoint
continues exactly as if it had never stopped. Two paths give the same batches:

- ``host_batch`` (``data: host``): crops and augments one sample at a time with MONAI dictionary
  transforms on the CPU; the loop copies each batch to the device.
- ``DeviceBatches`` (``data: device``): moves the items to the training device once and draws,
  crops and augments whole batches there (``BatchAugment``), so a GPU does not wait for the CPU.

Both draw the same items and the same crop windows; without augmentation their batches are equal
value for value, with it they follow the same distribution (``BatchAugment``'s contract).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.data.utils import get_random_patch
from monai.transforms import RandSpatialCropd, SpatialPadd

from segmenters.augment import BatchAugment

# The items stay on the host (and are copied per batch) when they would take more than this
# share of the device's free memory: the network's activations need the rest.
DEVICE_SHARE = 0.5


def _draws(n_items: int, weights, batch: int, seed: int, step: int, augment: bool,
           crop: bool):
    """The step's picks, augmentation seed and crop seed, drawn in this order by both paths."""
    rng = np.random.default_rng([seed, step])
    picks = rng.choice(n_items, size=batch, p=weights)
    augment_seed = int(rng.integers(2**31)) if augment else None
    crop_seed = int(rng.integers(2**31)) if crop else None
    return picks, augment_seed, crop_seed


def host_batch(items: list[dict], weights, batch: int, patch: Sequence[int], seed: int,
               step: int, augment: Callable | None):
    picks, augment_seed, crop_seed = _draws(len(items), weights, batch, seed, step,
                                            augment is not None, len(patch) == 3)
    if augment is not None:
        augment.set_random_state(seed=augment_seed)
    crop = None
    if crop_seed is not None:
        crop = [SpatialPadd(("image", "label"), patch),
                RandSpatialCropd(("image", "label"), patch, random_size=False)]
        crop[1].set_random_state(seed=crop_seed)
    samples = []
    for i in picks:
        sample = {"image": torch.as_tensor(items[i]["image"]),
                  "label": torch.as_tensor(items[i]["label"])}
        for transform in crop or ():
            sample = transform(sample)
        if augment is not None:
            sample = augment(sample)
        samples.append(sample)
    image = torch.stack([torch.as_tensor(s["image"]).float() for s in samples])
    label = torch.stack([torch.as_tensor(s["label"]).round().long() for s in samples])
    return image.as_subclass(torch.Tensor), label.as_subclass(torch.Tensor)


class DeviceBatches:
    """The training items resident on ``device``; ``draw(step)`` returns ``(image, label)``."""

    def __init__(self, items: list[dict], weights, batch: int, patch: Sequence[int], seed: int,
                 device: str, augment: BatchAugment | None):
        self.weights, self.batch, self.patch, self.seed = weights, batch, tuple(patch), seed
        self.device, self.augment, self.n = torch.device(device), augment, len(items)
        self.store = self.device if _fits(items, self.device) else torch.device("cpu")
        images = [_pad(torch.as_tensor(i["image"], dtype=torch.float32), patch) for i in items]
        labels = [_pad(torch.as_tensor(i["label"]).round().to(torch.int16), patch)
                  for i in items]
        if len(patch) == 2:  # slices share one size: one tensor, batches by indexing
            self.images = torch.stack(images).to(self.store)
            self.labels = torch.stack(labels).to(self.store)
        else:  # volumes differ in size: one tensor each, batches by cropping
            self.images = [v.to(self.store) for v in images]
            self.labels = [v.to(self.store) for v in labels]

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks, augment_seed, crop_seed = _draws(self.n, self.weights, self.batch, self.seed,
                                                step, self.augment is not None,
                                                len(self.patch) == 3)
        if crop_seed is None:
            index = torch.as_tensor(picks, device=self.store)
            image, label = self.images[index], self.labels[index]
        else:  # the windows MONAI's RandSpatialCropd draws, from the same seed, in turn
            state, crops = np.random.RandomState(crop_seed), []
            for i in picks:
                shape = self.images[i].shape[1:]
                window = (slice(None), *get_random_patch(shape, self.patch, state))
                crops.append((self.images[i][window], self.labels[i][window]))
            image = torch.stack([c[0] for c in crops])
            label = torch.stack([c[1] for c in crops])
        image = image.to(self.device, non_blocking=True)
        label = label.to(self.device, non_blocking=True)
        if self.augment is not None:
            image, label = self.augment(image, label, augment_seed)
        return image, label.long()


def _pad(volume: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """Zero padding up to ``patch``, split as MONAI's ``SpatialPad`` splits it."""
    if len(patch) == 2:
        return volume  # slices come at the patch size already
    widths = [max(p - s, 0) for p, s in zip(patch, volume.shape[1:], strict=True)]
    pad = [w for width in reversed(widths) for w in (width // 2, width - width // 2)]
    return F.pad(volume, pad) if any(pad) else volume


def _fits(items: list[dict], device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    size = sum(i["image"].nbytes + i["label"].size * 2 for i in items)
    free, _ = torch.cuda.mem_get_info(device)
    return size <= DEVICE_SHARE * free
