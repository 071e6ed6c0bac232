"""Deterministic train / validation / test splits of a CaseSet.

A split depends only on the case ids, the fractions and the seed, so that the same data split
gets the same content address in every run (fits and samples are keyed by it).
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench.api.case import CaseSet
from bench.api.errors import ConfigError


def split_cases(cases: CaseSet, fractions: dict[str, float], seed: int = 0) -> dict[str, CaseSet]:
    """Shuffle the cases with ``seed`` and cut them into named parts by fraction.

    Fractions must sum to at most 1; the first part takes what the others leave, and every
    part with a non-zero fraction gets at least one case.
    """
    if any(f < 0 for f in fractions.values()) or sum(fractions.values()) > 1 + 1e-9:
        raise ConfigError(f"split fractions {fractions} must be non-negative and sum to <= 1")
    names = list(fractions)
    wanted = [n for n in names[1:] if fractions[n] > 0]
    if len(cases) < len(wanted) + 1:
        raise ConfigError(f"{len(cases)} cases cannot be split into {', '.join(names)}: "
                          f"need at least {len(wanted) + 1}")
    order = np.random.default_rng(seed).permutation(len(cases))
    parts, start = {}, 0
    for name in names[1:]:
        size = max(1, round(fractions[name] * len(cases))) if fractions[name] > 0 else 0
        size = min(size, len(cases) - start - 1)
        parts[name] = cases.subset(sorted(order[start:start + size].tolist()))
        start += size
    parts = {names[0]: cases.subset(sorted(order[start:].tolist())), **parts}
    return {n: parts[n] for n in names}


def fingerprint(cases: CaseSet) -> str:
    """A short hash of the case ids and their data, for content addresses."""
    digest = hashlib.sha256()
    for case in cases:
        digest.update(case.id.encode())
        digest.update(np.ascontiguousarray(case.image).tobytes())
        digest.update(np.ascontiguousarray(case.label).tobytes())
    return digest.hexdigest()[:16]
