"""Training batches: which items a step draws, cropped and augmented.

Each step draws with a generator seeded by (seed, step), so a run resumed from a checkpoint
continues exactly as if it had never stopped. Two paths give the same batches:

- ``host_batch`` (``data: host``): crops and augments one sample at a time with MONAI dictionary
  transforms on the CPU; the loop copies each batch to the device.
- ``DeviceBatches`` (``data: device``): moves the items to the training device once and draws,
  crops and augments whole batches there (``BatchAugment``), so a GPU does not wait for the CPU.

Both draw the same items and the same crop windows; without augmentation their batches are equal
value for value, with it they follow the same distribution (``BatchAugment``'s contract).

Items (:func:`item`) hold arrays, or :class:`bench.api.case.Lazy` references when their cases come
from the on-disk cache. Referenced items are read when a batch draws them: ``host_batch`` reads
the batch's items, and ``DeviceBatches`` keeps references when the items stay on the host (the
CPU, or a device they do not fit), so host memory holds one batch, not the dataset; on a device
they fit, they are copied there one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.data.utils import get_random_patch
from monai.transforms import RandSpatialCropd, SpatialPadd

from bench.api.case import Case, Lazy, held
from segmenters.augment import BatchAugment

# The items stay on the host (and are copied per batch) when they would take more than this
# share of the device's free memory: the network's activations need the rest.
DEVICE_SHARE = 0.5


def item(case: Case) -> dict:
    """A training item of ``case``: {"image": (C, *s) float32, "label": (1, *s) float32}, as
    references when the case references its arrays."""
    label = case.ref("label")
    if case.lazy:
        return {"image": case.ref("image"),
                "label": Lazy((1, *label.shape), np.float32, _label_item, label)}
    return {"image": case.image, "label": case.label[None].astype(np.float32)}


def _label_item(label) -> np.ndarray:
    return np.asarray(held(label))[None].astype(np.float32)


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
        sample = {"image": torch.as_tensor(item_array(items[i]["image"])),
                  "label": torch.as_tensor(item_array(items[i]["label"]))}
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
        self.items = None
        if self.store.type == "cpu" and any(isinstance(v, Lazy) for i in items
                                            for v in i.values()):
            self.items = items  # read when drawn: host memory holds one batch
            return
        images = [_pad(torch.as_tensor(item_array(i["image"]), dtype=torch.float32)
                       .to(self.store), patch) for i in items]
        labels = [_pad(torch.as_tensor(item_array(i["label"])).round().to(torch.int16)
                       .to(self.store), patch) for i in items]
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
            if self.items is not None:
                image = torch.stack([self._image(i) for i in picks])
                label = torch.stack([self._label(i) for i in picks])
            else:
                index = torch.as_tensor(picks, device=self.store)
                image, label = self.images[index], self.labels[index]
        else:  # the windows MONAI's RandSpatialCropd draws, from the same seed, in turn
            state, crops = np.random.RandomState(crop_seed), []
            for i in picks:
                volume, labels = ((self._image(i), self._label(i)) if self.items is not None
                                  else (self.images[i], self.labels[i]))
                window = (slice(None), *get_random_patch(volume.shape[1:], self.patch, state))
                crops.append((volume[window], labels[window]))
            image = torch.stack([c[0] for c in crops])
            label = torch.stack([c[1] for c in crops])
        image = image.to(self.device, non_blocking=True)
        label = label.to(self.device, non_blocking=True)
        if self.augment is not None:
            image, label = self.augment(image, label, augment_seed)
        return image, label.long()


    def _image(self, i: int) -> torch.Tensor:
        return _pad(torch.as_tensor(item_array(self.items[i]["image"]), dtype=torch.float32),
                    self.patch)

    def _label(self, i: int) -> torch.Tensor:
        return _pad(torch.as_tensor(item_array(self.items[i]["label"])).round().to(torch.int16),
                    self.patch)


def item_array(value) -> np.ndarray:
    """An item's array, read if referenced; a read-only memory map is copied (torch warns on
    non-writable arrays and a batch must not write into the cache)."""
    array = held(value)
    return array if array.flags.writeable else np.array(array)


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
    size = sum(i["image"].nbytes + i["label"].nbytes // 2 for i in items)  # labels as int16
    free, _ = torch.cuda.mem_get_info(device)
    return size <= DEVICE_SHARE * free
