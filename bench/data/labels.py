"""The label values a dataset declares, checked against the integer type label maps are kept in.

Label maps are ``uint8`` when every declared value fits in it, else ``int16`` (the type of the
segmenters' predictions too): a value outside 0..32767 would wrap into another class (70000
becomes 4464; -1 becomes 255 in ``uint8``), and a segmenter sized by the largest value would
allocate that many output channels. A value or a name declared twice would silently rename a
class, so each value has exactly one name and each name one value.
"""

from __future__ import annotations

import numpy as np

from bench.api.errors import DataError

MAX_LABEL = int(np.iinfo(np.int16).max)


def declared_labels(pairs: list[tuple[int, str]], where) -> dict[int, str]:
    """``{value: name}`` from (value, name) pairs as a dataset.json declares them."""
    out: dict[int, str] = {}
    names: dict[str, int] = {}
    for value, name in pairs:
        if not 0 <= value <= MAX_LABEL:
            raise DataError(f"{where}: label '{name}' has value {value}; label values must be "
                            f"0..{MAX_LABEL} (label maps are stored as 16-bit integers)")
        if value in out:
            raise DataError(f"{where}: labels '{out[value]}' and '{name}' both have value "
                            f"{value}; each label value needs exactly one name")
        if name in names:
            raise DataError(f"{where}: label '{name}' is declared for values {names[name]} and "
                            f"{value}; each label needs its own name")
        out[value], names[name] = name, value
    return dict(sorted(out.items()))


def label_dtype(declared: dict[int, str], where) -> type[np.integer]:
    """The type that holds every declared value exactly."""
    dtype = np.uint8 if max(declared) <= np.iinfo(np.uint8).max else np.int16
    low, high = min(declared), max(declared)
    if low < 0 or high > np.iinfo(dtype).max:
        raise DataError(f"{where}: label values {low}..{high} do not fit the label maps' "
                        f"{np.dtype(dtype).name}; expected 0..{MAX_LABEL}")
    return dtype
