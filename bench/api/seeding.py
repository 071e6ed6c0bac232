"""Randomness from explicit seeds, never from (or into) torch's global random state.

Noise is drawn from a ``torch.Generator`` made from a seed (:func:`torch_generator`,
:func:`normal`); indices and choices from a ``numpy.random.Generator``. What only reads the global
state (the initial weights of ``nn.Module`` constructors, the reparameterisation and dropout
inside MONAI networks, StyleGAN2's training-time layer noise and augmentation) runs inside
:func:`seeded_global_rng`, which seeds it and gives the caller's state back afterwards, so that a
fit or a sample leaves the random state of the process that called it as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``: the same seed gives the same stream."""
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def normal(shape: tuple[int, ...] | torch.Size, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise of ``shape`` on the generator's device."""
    return torch.randn(tuple(shape), generator=generator, device=generator.device)


def normal_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, on ``x``'s device (and the generator's)."""
    return normal(x.shape, generator).to(dtype=x.dtype)


def timesteps(n: int, total: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` diffusion timesteps drawn uniformly from ``[0, total)``."""
    return torch.randint(0, total, (n,), generator=generator, device=generator.device)


@contextmanager
def seeded_global_rng(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Torch's global RNG (CPU, and ``device`` when it is a GPU) seeded with ``seed`` inside the
    block and restored to the caller's state after it."""
    device = torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:  # never torch.manual_seed: it also seeds (lazily) every other GPU
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
