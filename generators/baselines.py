"""Reference generators that need no training: the two ends of the scale.

``none`` stands for "no synthetic data" so that real-only cells have a generator name.
``phantom-oracle`` draws new subjects from the phantom's own generative process: the samples
a perfect generator of the embedded default would produce, hence an upper bound for any
learned generator on it, and the positive control of a paper experiment: a pattern the oracle
does not show, the design cannot show. It works only when the real data is the phantom. Like the
generators it controls for, it takes a style (subjects of the style images' site, in their
sequences: the perfectly styled sample), a lesion ratio (of a lesion phantom) and a channel
choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bench.api.case import CaseSet
from bench.api.errors import ConfigError
from bench.api.generator import CHANNELS, LESION_RATIO, STYLE, FitContext, SampleContext

# Oracle subjects use seeds far from any dataset seed, so they never repeat a real subject.
ORACLE_SEED_OFFSET = 1_000_003


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoneGenerator:
    name: ClassVar[str] = "none"
    version: ClassVar[str] = "1"
    spatial_dims: ClassVar[int] = 0  # samples nothing
    Params: ClassVar[type[BaseModel]] = NoParams
    presets: ClassVar[dict[str, dict]] = {}

    def __init__(self, params: NoParams | None = None):
        self.params = params or NoParams()

    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        pass

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        raise ConfigError("generator 'none' produces no samples; use it with the 'real' "
                          "strategy only")

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    @classmethod
    def load(cls, path: Path) -> NoneGenerator:
        return cls()


class PhantomOracle:
    name: ClassVar[str] = "phantom-oracle"
    spatial_dims: ClassVar[int] = 3  # samples volumes
    version: ClassVar[str] = "1"
    Params: ClassVar[type[BaseModel]] = NoParams
    presets: ClassVar[dict[str, dict]] = {}
    sampling_options: ClassVar[frozenset[str]] = frozenset({STYLE, LESION_RATIO, CHANNELS})

    def __init__(self, params: NoParams | None = None):
        self.params = params or NoParams()
        self.config: dict | None = None

    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        if train.meta.get("source") != "phantom" or "config" not in train.meta:
            raise ConfigError("generator 'phantom-oracle' needs the embedded phantom as dataset "
                              f"(got {train.meta.get('source', 'another dataset')})")
        self.config = dict(train.meta["config"])

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        from bench.data.phantom import PhantomConfig, make_phantom

        if self.config is None:
            raise ConfigError("generator 'phantom-oracle' must be fitted before sampling")
        config = PhantomConfig(**{**self.config, **self._options(ctx), "subjects": n,
                                  "seed": ORACLE_SEED_OFFSET + ctx.seed})
        cases = make_phantom(config)
        return CaseSet(cases.cases, cases.labels, cases.channels, 3,
                       {**cases.meta, "source": self.name})

    def _options(self, ctx: SampleContext) -> dict:
        """The phantom settings that the sampling options stand for."""
        options: dict = {}
        if ctx.style is not None:
            sites = {c.meta.get("site") for c in ctx.style} - {None}
            if ctx.style.meta.get("source") != "phantom" or len(sites) != 1:
                raise ConfigError("generator 'phantom-oracle': style images must be phantom "
                                  f"subjects of one site (got sites {sorted(map(str, sites))})")
            options |= {"site": sites.pop(), "channels": tuple(ctx.style.channels)}
        if ctx.lesion_ratio is not None:
            if not self.config.get("lesions"):
                raise ConfigError("generator 'phantom-oracle': a lesion ratio needs a lesion "
                                  "phantom as training data (phantom:...:lesions)")
            options["lesion_probability"] = float(ctx.lesion_ratio)
        if ctx.channels:
            options["channels"] = tuple(ctx.channels)
        return options

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "oracle.json").write_text(json.dumps(self.config))

    @classmethod
    def load(cls, path: Path) -> PhantomOracle:
        oracle = cls()
        oracle.config = json.loads((Path(path) / "oracle.json").read_text())
        return oracle
