"""Which labels are lesions, and how large each lesion of a dataset is.

A label is a lesion when its name says tumour, lesion, oedema, enhancing, necrosis, metastasis
or cyst. The lesion volumes of the test sets are measured once, when a run prepares its data,
and kept in the store's manifest: the report's lesion-size strata then need no data.
"""

from __future__ import annotations

import re

from bench.api.case import CaseSet

LESION_WORDS = re.compile(r"tumou?r|lesion|o?edema|enhanc|necro|metasta|cyst", re.IGNORECASE)


def lesion_classes(labels: dict[int, str]) -> list[str]:
    """The names of the lesion labels, in label order."""
    return [name for value, name in sorted(labels.items()) if value and LESION_WORDS.search(name)]


def lesion_values(labels: dict[int, str]) -> list[int]:
    """The values of the lesion labels."""
    return sorted(v for v, name in labels.items() if v and LESION_WORDS.search(name))


def reference_volumes(tests: dict[str, CaseSet]) -> dict:
    """``{"unit", "volumes": {test set: {case: {lesion class: volume}}}}``; empty without any
    lesion class."""
    volumes, unit = {}, "mL"
    for name, cases in tests.items():
        classes = lesion_classes(cases.labels)
        if not classes:
            continue
        scale, unit = (1e-3, "mL") if cases.spatial_dims == 3 else (1.0, "mm²")
        volumes[name] = {case: {k: v * scale for k, v in per_class.items() if k in classes}
                         for case, per_class in cases.label_volumes().items()}
    return {"unit": unit, "volumes": volumes} if volumes else {}
