"""Device names as users write them: ``auto`` picks CUDA when there is one."""

from __future__ import annotations

import torch

from bench.api.errors import ConfigError


def resolve_device(name: str = "auto") -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu" or name.startswith("cuda"):
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device '{name}': CUDA is not available on this machine "
                              "(use --device cpu or auto)")
        return name
    raise ConfigError(f"device '{name}': expected auto, cpu, cuda or cuda:N")
