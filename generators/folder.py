"""``folder``: a pre-generated synthetic dataset benchmarked as if it were a generator.

Researchers often hold synthetic cases made elsewhere (another code base, another machine). This
adapter puts them in a matrix beside the built-in generators: there is nothing to fit, and a
count n is the first n cases of a permutation drawn from the sampling seed, so n=10 is part of
n=20 and each seed draws its own cases. The folder is any dataset :func:`bench.data.load_dataset`
reads (nnU-Net v2 or MSD layout, 2D or 3D). Being :class:`~bench.api.generator.ReadsFolder`, the
harness names it by the folder's content, never by ``path``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from bench.api.case import CaseSet
from bench.api.errors import ConfigError, DataError
from bench.api.generator import CHANNELS, FitContext, SampleContext
from bench.data import load_dataset


class FolderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # an nnU-Net v2 or MSD dataset folder of synthetic cases


class PreGenerated:
    name: ClassVar[str] = "folder"
    version: ClassVar[str] = "1"
    spatial_dims: ClassVar[int] = 0  # 2D or 3D: the folder's data decides
    Params: ClassVar[type[BaseModel]] = FolderParams
    presets: ClassVar[dict[str, dict]] = {}
    # picks the run's channels among the folder's; fixed cases take no style or lesion ratio
    sampling_options: ClassVar[frozenset[str]] = frozenset({CHANNELS})

    def __init__(self, params: FolderParams):
        self.params = params

    def folder(self) -> Path:
        return Path(self.params.path).expanduser()

    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        """Nothing to learn: checks that the folder holds ``train``'s labels and channels, so
        that a folder made for other data is refused before anything trains on it."""
        cases = self._read()
        if set(cases.labels) != set(train.labels):
            raise DataError(f"generator 'folder' {self.folder()}: labels {cases.labels} do not "
                            f"match the training data's {train.labels}")
        missing = [c for c in train.channels if c not in cases.channels]
        if missing:
            raise DataError(f"generator 'folder' {self.folder()}: channels {cases.channels} "
                            f"lack the training data's {missing}")

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        """The first ``n`` cases of the folder in an order drawn from ``ctx.seed``."""
        if ctx.style is not None or ctx.lesion_ratio is not None:
            raise ConfigError("generator 'folder' reads fixed cases: it takes no style images "
                              "and no lesion fraction")
        cases = self._read()
        if n > len(cases):
            raise ConfigError(f"generator 'folder' {self.folder()} holds {len(cases)} cases; "
                              f"the matrix asks for {n} (lower 'counts')")
        order = np.random.default_rng(ctx.seed).permutation(len(cases))[:n]
        picked = cases.subset(order.tolist())
        keep = ctx.channel_indices(picked.channels, f"generator 'folder' {self.folder()}")
        chosen = [dataclasses.replace(c, image=c.image[keep]) for c in picked]
        return CaseSet(chosen, dict(picked.labels), [picked.channels[i] for i in keep],
                       picked.spatial_dims, {**picked.meta, "source": str(self.folder())})

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "folder.json").write_text(json.dumps(self.params.model_dump()))

    @classmethod
    def load(cls, path: Path) -> PreGenerated:
        return cls(FolderParams(**json.loads((Path(path) / "folder.json").read_text())))

    def _read(self) -> CaseSet:
        if not self.folder().is_dir():
            raise DataError(f"generator 'folder': {self.folder()} is not a folder (expected an "
                            "nnU-Net v2 or MSD dataset of synthetic cases)")
        return load_dataset(self.folder())
