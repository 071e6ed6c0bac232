"""The leakage guard: no test case may be seen in training.

Every case of every role is fingerprinted by the content of its image (not its id: the same
subject under two names, or one folder reused for two roles, is still caught). A test case whose
image equals a case used for training, validation, fine-tuning, target validation, style or as a
synthetic sample stops the run before anything trains.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError


def image_fingerprint(case: Case) -> str:
    """A hash of the image content: shape and float32 values."""
    image = np.ascontiguousarray(case.image, dtype=np.float32)
    digest = hashlib.sha256(str(image.shape).encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def check_no_leakage(seen: dict[str, CaseSet], tests: dict[str, CaseSet]) -> None:
    """Refuse any test case whose image is also in a role of ``seen`` (e.g. real, val, target).

    The error names both roles and both case ids, and how many more overlaps there are.
    """
    owners: dict[str, tuple[str, str]] = {}
    for role, cases in seen.items():
        for case in cases:
            owners.setdefault(image_fingerprint(case), (role, case.id))
    overlaps = [(name, case.id, *owners[fp]) for name, cases in tests.items() for case in cases
                if (fp := image_fingerprint(case)) in owners]
    if overlaps:
        test, test_id, role, seen_id = overlaps[0]
        more = f" (and {len(overlaps) - 1} more overlaps)" if len(overlaps) > 1 else ""
        raise DataError(f"test set '{test}' case {test_id} is also {role} case {seen_id}{more}: "
                        "a test case must never be seen in training; use disjoint data "
                        "(for the phantom, e.g. another seed: phantom:B:4:seed=1)")
