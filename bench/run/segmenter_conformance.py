"""Conformance rules for segmenter adapters: train, predict, determinism, reload.

The same table as for generators (:mod:`bench.run.generator_conformance`):
``synth2seg segmenter check`` and :func:`bench.testing.assert_segmenter_conforms`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.api.case import CaseSet
from bench.api.errors import DataError
from bench.api.segmenter import ExposesEncoder, Segmenter, TrainContext
from bench.api.strategies import parse_strategy
from bench.data import open_dataset
from bench.run.generator_conformance import (
    DEFAULT_DATA,
    Failed,
    Result,
    Rules,
    Skipped,
    declared,
    resolved_params,
)


def check_segmenter(cls: type, data: CaseSet | str = DEFAULT_DATA, preset: str | None = "tiny",
                    params: dict | None = None, seed: int = 0, device: str = "cpu",
                    workdir: Path | None = None) -> list[Result]:
    """Run ``cls`` through the rules: the last case of ``data`` validates and is predicted, the
    others train (``data`` needs at least two cases)."""
    with tempfile.TemporaryDirectory(prefix="synth2seg-check-") as tmp:
        cases = open_dataset(data) if isinstance(data, str | Path) else data
        return _SegmenterCheck(cls, cases, preset, params, seed, device, Path(workdir or tmp)
                               ).run()


class _SegmenterCheck:
    def __init__(self, cls, cases, preset, params, seed, device, root):
        if len(cases) < 2:
            raise DataError(f"the check needs at least two cases, the data has {len(cases)}")
        self.cls, self.preset, self.overrides = cls, preset, params
        self.seed, self.device, self.root = seed, device, root
        self.train_set, self.test = cases.subset(range(len(cases) - 1)), cases.subset([-1])
        self.rules, self.segmenter, self.model, self.predictions = Rules(), None, None, None

    def run(self) -> list[Result]:
        r = self.rules
        if not r.run("protocol", lambda: declared(self.cls, Segmenter)):
            return r.results
        self.params = resolved_params(self.cls, self.preset, self.overrides, "segmenter")
        r.run("train", self.train, ("protocol",))
        r.run("predict", self.predict, ("train",))
        r.run("same seed, same model", self.deterministic, ("predict",))
        r.run("load from workdir", self.reload, ("predict",))
        return r.results

    def _train(self, workdir: Path):
        segmenter = self.cls(self.params)
        ctx = TrainContext(workdir, {"real": self.train_set, "val": self.test}, self.device,
                           self.seed)
        return segmenter, segmenter.train(list(parse_strategy("real").stages), ctx)

    def train(self) -> str:
        self.segmenter, self.model = self._train(self.root / "a")
        return f"strategy 'real' on {len(self.train_set)} cases"

    def predict(self) -> str:
        self.predictions = self.segmenter.predict(self.model, self.test, self.device)
        if len(self.predictions) != len(self.test):
            raise Failed(f"{len(self.predictions)} label maps for {len(self.test)} cases")
        for case, pred in zip(self.test, self.predictions, strict=True):
            pred = np.asarray(pred)
            if pred.shape != case.spatial_shape:
                raise Failed(f"case {case.id}: label map {pred.shape}, the case is "
                             f"{case.spatial_shape}")
            if not np.issubdtype(pred.dtype, np.integer):
                raise Failed(f"case {case.id}: label map of {pred.dtype}, expected integers")
            extra = sorted(set(np.unique(pred).tolist()) - set(self.test.labels))
            if extra:
                raise Failed(f"case {case.id}: label values {extra} are not declared")
        return f"one label map per case, shape {self.test[0].spatial_shape}"

    def deterministic(self) -> str:
        segmenter, model = self._train(self.root / "b")
        again = segmenter.predict(model, self.test, self.device)
        if not all(np.array_equal(a, b) for a, b in zip(self.predictions, again, strict=True)):
            raise Failed(f"two trainings with seed {self.seed} predict differently")
        return f"two trainings with seed {self.seed} predict the same"

    def reload(self) -> str:
        if not isinstance(self.segmenter, ExposesEncoder):
            raise Skipped("no ExposesEncoder capability")
        model = self.segmenter.load(self.root / "a")
        again = self.segmenter.predict(model, self.test, self.device)
        if not all(np.array_equal(a, b) for a, b in zip(self.predictions, again, strict=True)):
            raise Failed("the model loaded from its workdir predicts differently")
        if not isinstance(self.segmenter.network(model, self.device), torch.nn.Module):
            raise Failed("network() is not a torch.nn.Module")
        size = self.segmenter.input_size()
        if len(size) != self.segmenter.spatial_dims:
            raise Failed(f"input_size {size} is not {self.segmenter.spatial_dims}D")
        return f"same predictions; network input {size}"
