"""Conformance rules for adapters: run a generator class through everything the harness relies on.

A third party learns what its adapter gets wrong from a table of rules (``synth2seg generator
check``, :func:`bench.testing.assert_generator_conforms`), not from a traceback in the middle of a
matrix. Each rule passes, fails with a one-line reason, or is skipped with the reason (a rule
whose prerequisite failed, or one that does not apply, e.g. sampling for ``none``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydantic

from bench.api.case import CaseSet
from bench.api.generator import FitContext, Generator, SampleContext
from bench.api.presets import preset_params
from bench.api.registry import missing_members
from bench.data import load_dataset, open_dataset, write_nnunet

DEFAULT_DATA = "phantom:A:3"
SAME_ATOL = 1e-6  # save/load and one seed: the same numbers, up to float kernel noise
RESUME_ATOL = 1e-5  # a resumed fit: the same weights, up to the order of float operations
MASKS_ONLY = ["mask"]  # masks-only samples (M-SG): one channel that holds the label map


@dataclass(frozen=True)
class Result:
    """One rule's outcome: ``passed`` is None when the rule was skipped."""

    rule: str
    passed: bool | None
    detail: str = ""


class Failed(Exception):
    """A rule is broken; the message says how."""


class Skipped(Exception):
    """A rule does not apply; the message says why."""


class Rules:
    """Runs rules in order and records them; a rule whose prerequisite did not pass is skipped."""

    def __init__(self):
        self.results: list[Result] = []

    def passed(self, rule: str) -> bool:
        return any(r.rule == rule and r.passed for r in self.results)

    def run(self, rule: str, check: Callable[[], str], needs: tuple[str, ...] = ()) -> bool:
        """Run ``check`` (returns what it verified) unless a rule in ``needs`` did not pass."""
        blocked = [n for n in needs if not self.passed(n)]
        if blocked:
            self.results.append(Result(rule, None, f"needs '{blocked[0]}'"))
            return False
        try:
            self.results.append(Result(rule, True, check()))
        except Skipped as exc:
            self.results.append(Result(rule, None, str(exc)))
        except Failed as exc:
            self.results.append(Result(rule, False, str(exc)))
        except Exception as exc:  # an adapter's crash is what this check reports
            self.results.append(Result(rule, False, one_line(exc)))
        return self.passed(rule)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def resolved_params(cls: type, preset: str | None, overrides: dict | None, kind: str):
    """The params a check uses, resolved as a run resolves them; a class without presets is
    checked with its defaults when the check asks for ``tiny``."""
    if preset == "tiny" and not cls.presets:
        preset = None
    return preset_params(cls, preset, overrides, kind)


def declared(cls: type, protocol: type) -> str:
    """The protocol rule: every member present and the class attributes of the right kind."""
    missing = missing_members(cls, protocol)
    if missing:
        raise Failed(f"missing {', '.join(missing)} (declared by the {protocol.__name__} "
                     "protocol in bench.api)")
    if not isinstance(cls.version, str):
        raise Failed(f"version must be a str, got {cls.version!r}")
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, pydantic.BaseModel)):
        raise Failed("Params must be a pydantic BaseModel class")
    if not isinstance(cls.presets, dict):
        raise Failed("presets must be a dict of preset name -> params")
    return f"{cls.name} v{cls.version}; presets: {', '.join(cls.presets) or 'none'}"


def difference(a: CaseSet, b: CaseSet, atol: float) -> str | None:
    """Where two sample sets differ (count, label maps, images beyond ``atol``), or None."""
    if len(a) != len(b):
        return f"{len(a)} cases against {len(b)}"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.image.shape != y.image.shape or not np.array_equal(x.label, y.label):
            return f"case {i}: the label maps differ"
        gap = float(np.max(np.abs(x.image - y.image), initial=0.0))
        if not gap <= atol:
            return f"case {i}: images differ by up to {gap:.3g} (tolerance {atol:g})"
    return None


def check_generator(cls: type, data: CaseSet | str = DEFAULT_DATA, preset: str | None = "tiny",
                    params: dict | None = None, seed: int = 0, n: int = 2,
                    device: str = "cpu", workdir: Path | None = None) -> list[Result]:
    """Run ``cls`` through the conformance rules on ``data`` (a CaseSet or a dataset spec)."""
    with tempfile.TemporaryDirectory(prefix="synth2seg-check-") as tmp:
        root = Path(workdir or tmp)
        train = open_dataset(data) if isinstance(data, str | Path) else data
        return _GeneratorCheck(cls, train, preset, params, seed, n, device, root).run()


class _GeneratorCheck:
    def __init__(self, cls, train, preset, params, seed, n, device, root):
        self.cls, self.train, self.preset, self.overrides = cls, train, preset, params
        self.seed, self.n, self.device, self.root = seed, n, device, root
        self.rules, self.model, self.samples, self.steps = Rules(), None, None, 0

    def ctx(self, seed: int | None = None) -> SampleContext:
        return SampleContext(seed=self.seed if seed is None else seed, device=self.device)

    def run(self) -> list[Result]:
        r = self.rules
        if not r.run("protocol", lambda: declared(self.cls, Generator)):
            return r.results
        self.params = resolved_params(self.cls, self.preset, self.overrides, "generator")
        r.run("fit", self.fit, ("protocol",))
        r.run("sample", self.sample, ("fit",))
        r.run("labels", self.labels, ("sample",))
        r.run("channels", self.channels, ("sample",))
        r.run("spatial dims", self.dims, ("sample",))
        r.run("same seed, same samples", self.same_seed, ("sample",))
        r.run("other seed, other samples", self.other_seed, ("sample",))
        r.run("save → load", self.save_load, ("fit",))
        r.run("interrupted fit resumes", self.resume, ("fit",))
        r.run("samples form a dataset", self.dataset, ("sample",))
        return r.results

    def fit(self) -> str:
        def count(step, total, losses):
            self.steps += 1

        self.model = self.cls(self.params)
        self.model.fit(self.train, FitContext(self.root / "fit", self.device, self.seed, count))
        return f"{len(self.train)} {self.train.spatial_dims}D cases, {self.steps} progress steps"

    def sample(self) -> str:
        if self.cls.spatial_dims == 0:
            raise Skipped("spatial_dims 0: the generator samples nothing")
        self.samples = self.model.sample(self.n, self.ctx())
        if not isinstance(self.samples, CaseSet) or len(self.samples) != self.n:
            raise Failed(f"sample({self.n}) returned {len(self.samples)} cases")
        bad = [c.id for c in self.samples if not np.isfinite(c.image).all()]
        if bad:
            raise Failed(f"case {bad[0]}: image has NaN or infinite values")
        return f"{self.n} cases, finite images"

    def labels(self) -> str:
        s, want = self.samples, self.train.labels
        if set(s.labels) != set(want):
            raise Failed(f"labels {s.labels}, the training data's are {want}")
        for case in s:
            extra = sorted(set(np.unique(case.label).tolist()) - set(want))
            if extra:
                raise Failed(f"case {case.id}: label values {extra} are not declared")
        return f"{sorted(want)}"

    def channels(self) -> str:
        s, want = self.samples, self.train.channels
        if [c.lower() for c in s.channels] == [c.lower() for c in want]:
            return ", ".join(s.channels)
        if s.channels == MASKS_ONLY and all(np.array_equal(c.image[0], c.label) for c in s):
            return "masks only: one 'mask' channel holding the label map"
        raise Failed(f"channels {s.channels}, the training data's are {want}")

    def dims(self) -> str:
        s, dims = self.samples, self.cls.spatial_dims
        if s.spatial_dims != dims:
            raise Failed(f"spatial_dims is {dims}, the samples are {s.spatial_dims}D")
        return f"{dims}D, shape {s[0].spatial_shape}"

    def same_seed(self) -> str:
        gap = difference(self.samples, self.model.sample(self.n, self.ctx()), SAME_ATOL)
        if gap:
            raise Failed(f"two calls with seed {self.seed} differ: {gap}")
        return f"seed {self.seed} twice"

    def other_seed(self) -> str:
        if difference(self.samples, self.model.sample(self.n, self.ctx(self.seed + 1)), 0.0) \
                is None:
            raise Failed(f"seeds {self.seed} and {self.seed + 1} give the same samples")
        return f"seeds {self.seed} and {self.seed + 1}"

    def save_load(self) -> str:
        self.model.save(self.root / "model")
        loaded = self.cls.load(self.root / "model")
        if self.samples is None:
            return "saved and loaded; " + self.not_compared()
        gap = difference(self.samples, loaded.sample(self.n, self.ctx()), SAME_ATOL)
        if gap:
            raise Failed(f"the loaded generator samples differently: {gap}")
        return "the loaded generator samples the same"

    def resume(self) -> str:
        if self.steps == 0:
            raise Skipped("fit reports no progress steps: nothing to interrupt")
        work = self.root / "resume"
        first = _interrupted(self.cls, self, work)
        if first is None:
            raise Failed("the fit wrote no checkpoint under ctx.workdir in its second half")
        resumed, steps = self.cls(self.params), []
        resumed.fit(self.train, FitContext(work, self.device, self.seed,
                                           lambda *a: steps.append(a)))
        if len(steps) >= self.steps:
            raise Failed(f"stopped after {first} steps, the fit ran all {len(steps)} steps again")
        if self.samples is not None:
            gap = difference(self.samples, resumed.sample(self.n, self.ctx()), RESUME_ATOL)
            if gap:
                raise Failed(f"samples differ from an uninterrupted fit's: {gap}")
        done = f"stopped after {first} of {self.steps} steps; the resumed fit ran {len(steps)}"
        return done if self.samples is not None else f"{done}; {self.not_compared()}"

    def not_compared(self) -> str:
        if self.cls.spatial_dims == 0:
            return "samples nothing"
        return "samples not compared ('sample' did not pass)"

    def dataset(self) -> str:
        folder = write_nnunet(self.samples, self.root / "dataset", name=f"{self.cls.name} check")
        back = load_dataset(folder)
        if len(back) != self.n or set(back.labels) != set(self.samples.labels):
            raise Failed(f"{folder} reads back as {len(back)} cases with labels {back.labels}")
        return "written as nnU-Net v2 and accepted by 'synth2seg data check'"


class _Stop(Exception):
    """Raised from the progress callback to interrupt a fit."""


def _interrupted(cls, check: _GeneratorCheck, work: Path) -> int | None:
    """Fit until, at least halfway through the steps of an uninterrupted fit (so that a fit in
    stages stops in a later one), a progress report finds files under ``work`` changed; stop
    there. The number of steps done, or None when the fit ended without writing anything."""
    seen, before = [], None

    def stop(step, total, losses):
        nonlocal before
        seen.append(step)
        files = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()} \
            if work.exists() else {}
        if files and files != before and len(seen) >= check.steps / 2:
            raise _Stop
        before = files

    try:
        cls(check.params).fit(check.train, FitContext(work, check.device, check.seed, stop))
    except _Stop:
        return len(seen)
    return None
