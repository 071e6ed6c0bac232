"""The leakage guard: no test case may be seen in training.

Every case of every role is fingerprinted by the content of each of its image channels (not its
id: the same subject under two names, or one folder reused for two roles, is still caught; nor
the whole image only: a T1 test volume is also inside a T1 + FLAIR training volume of the same
subject). A test case with a channel equal to a channel of a case used for training,
validation, fine-tuning, target validation, style, generator fitting or as a synthetic sample
stops the run before anything trains. Constant channels carry no subject and are not compared.
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


def channel_fingerprints(case: Case) -> list[str]:
    """A hash of each non-constant channel: spatial shape and float32 values."""
    image = np.asarray(case.image, dtype=np.float32)
    out = []
    for channel in image:
        if channel.size and channel.min() == channel.max():
            continue
        digest = hashlib.sha256(str(channel.shape).encode())
        digest.update(np.ascontiguousarray(channel).tobytes())
        out.append(digest.hexdigest())
    return out


def check_no_leakage(seen: dict[str, CaseSet], tests: dict[str, CaseSet]) -> None:
    """Refuse any test case with an image channel also in a role of ``seen`` (e.g. real, val,
    target).

    The error names both roles and both case ids, and how many more overlaps there are.
    """
    owners: dict[str, tuple[str, str]] = {}
    for role, cases in seen.items():
        for case in cases:
            for fp in channel_fingerprints(case):
                owners.setdefault(fp, (role, case.id))
    overlaps = [(name, case.id, *owners[shared[0]]) for name, cases in tests.items()
                for case in cases
                if (shared := [fp for fp in channel_fingerprints(case) if fp in owners])]
    if overlaps:
        test, test_id, role, seen_id = overlaps[0]
        more = f" (and {len(overlaps) - 1} more overlaps)" if len(overlaps) > 1 else ""
        raise DataError(f"test set '{test}' case {test_id} is also {role} case {seen_id}{more}: "
                        "a test case must never be seen in training; use disjoint data "
                        "(for the phantom, e.g. another seed: phantom:B:4:seed=1)")
