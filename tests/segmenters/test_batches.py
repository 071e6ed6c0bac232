"""The device-resident training path against the host path it replaces, on the CPU.

"Same" here means: for one seed, both paths draw the same items and the same crop windows at
every step, so without augmentation their batches are equal value for value and training gives
identical weights; with augmentation they follow one distribution
(tests/segmenters/test_augment.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.api.presets import from_preset
from segmenters.augment import BatchAugment
from segmenters.batches import DeviceBatches, host_batch
from segmenters.monai_models import UNet2D
from segmenters.training import Loop, _fast, train_network


def _items(shapes, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return [{"image": rng.normal(size=(channels, *s)).astype(np.float32),
             "label": rng.integers(0, 4, size=(1, *s)).astype(np.float32)} for s in shapes]


CASES = {
    "2d slices, weighted": (_items([(24, 32)] * 7), np.arange(1, 8) / 28, (24, 32)),
    # volumes smaller than the patch along some axes are padded as MONAI pads them
    "3d volumes of several sizes": (_items([(20, 18, 16), (12, 22, 16), (16, 16, 9)]), None,
                                    (14, 16, 12)),
}


@pytest.mark.parametrize("case", CASES)
def test_device_batches_equal_host_batches_without_augmentation(case):
    items, weights, patch = CASES[case]
    device = DeviceBatches(items, weights, 5, patch, seed=3, device="cpu", augment=None)
    for step in (0, 1, 17):
        image, label = device.draw(step)
        host_image, host_label = host_batch(items, weights, 5, patch, 3, step, None)
        assert image.shape == (5, 2, *patch) and label.dtype == host_label.dtype
        assert torch.equal(image, host_image), f"step {step}: images differ"
        assert torch.equal(label, host_label), f"step {step}: labels differ"


@pytest.mark.parametrize("case", CASES)
def test_device_batches_with_augmentation_are_reproducible_per_step(case):
    items, weights, patch = CASES[case]
    augment = BatchAugment(len(patch))

    def draw(step):
        return DeviceBatches(items, weights, 4, patch, 3, "cpu", augment).draw(step)

    (first, first_label), (again, again_label) = draw(2), draw(2)
    assert torch.equal(first, again) and torch.equal(first_label, again_label)
    assert not torch.equal(first, draw(3)[0])
    plain, _ = DeviceBatches(items, weights, 4, patch, 3, "cpu", None).draw(2)
    assert not torch.equal(first, plain), "augmentation changed nothing"


def _train(tmp_path, name, **options):
    seg = from_preset(UNet2D, "tiny")
    items = _items([seg.params.patch] * 6, channels=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = seg.build(1, 4)
    p = seg.params
    loop = Loop(3, p.batch, p.lr, 10**6, 10**6, p.patch, **options)
    trained = train_network(net, items, None, [], loop, tmp_path / name, "cpu", 1, None, None, 4)
    return torch.load(trained.best, weights_only=True)


def test_device_path_trains_the_same_weights_as_the_host_path(tmp_path):
    device, host = _train(tmp_path, "device", data="device"), _train(tmp_path, "host", data="host")
    for key in host:
        assert torch.equal(device[key], host[key]), f"{key} differs between the two paths"


def _step(**options):
    """Logits and weight gradients of one training step of the tiny unet2d (Adam would hide
    small differences: its steps have the learning rate's size whatever the gradient)."""
    seg = from_preset(UNet2D, "tiny")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = seg.build(1, 4)
        image = torch.randn(4, 1, *seg.params.patch)
    loop = Loop(1, 4, 1e-4, 1, 1, seg.params.patch, **options)
    model, layout = _fast(net, loop)
    logits = model(image.contiguous(memory_format=layout))
    logits.square().mean().backward()
    return logits.detach(), {k: v.grad for k, v in net.named_parameters()}


def test_channels_last_changes_the_layout_not_the_training():
    net = from_preset(UNet2D, "tiny").build(1, 4)
    _fast(net, Loop(1, 4, 1e-4, 1, 1, (32, 32), channels_last=True))
    assert any(w.dim() == 4 and w.is_contiguous(memory_format=torch.channels_last)
               and not w.is_contiguous() for w in net.parameters()), "no weight is channels-last"
    (logits, grads), (last, last_grads) = _step(), _step(channels_last=True)
    torch.testing.assert_close(last, logits, rtol=1e-4, atol=1e-5)
    for key in grads:
        torch.testing.assert_close(last_grads[key], grads[key], rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_compiled_network_trains_as_the_eager_one(tmp_path):
    (logits, grads), (compiled, compiled_grads) = _step(), _step(compile=True)
    torch.testing.assert_close(compiled, logits, rtol=1e-4, atol=1e-5)
    for key in grads:
        torch.testing.assert_close(compiled_grads[key], grads[key], rtol=1e-3, atol=1e-6)
    saved = _train(tmp_path, "compiled", compile=True)
    assert saved.keys() == _train(tmp_path, "eager").keys(), "compile renamed the saved weights"
