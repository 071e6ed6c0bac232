"""Test-set names: one rule for every place that takes one (a config's ``test_sets``, ``train
--test NAME=DIR``).

A test-set name becomes a file name in the leaderboard folder (``stability_NAME.csv``,
``summaries/CELL/NAME/summary.json``) and a prefix of the leaderboard's columns (``NAME:dice``),
so it is letters, digits and ``_ . -`` inside, starting and ending with a letter or digit: such
a name is its own file name, and two names that differ only in case are refused because they
would share one file on a case-insensitive file system (macOS, Windows).
"""

from __future__ import annotations

import re

from bench.api.errors import ConfigError

HELDOUT = "heldout"  # the in-domain part of the dataset held out by the split
# the in-domain split, and the prefixes of the leaderboard's other column groups
RESERVED = (HELDOUT, "fidelity", "cost", "vs")
PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$")
RULE = "letters, digits and _ . - (A-Za-z0-9, starting and ending with a letter or digit, " \
       "at most 64 characters)"


def check_test_set_names(names, where: str) -> None:
    """Refuse a name outside :data:`PATTERN`, a reserved one, or two that differ only in case;
    ``where`` names the field or option, e.g. ``--test``."""
    problem = test_set_name_problem(names)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")


def test_set_name_problem(names) -> str | None:
    """What is wrong with ``names`` as test-set names, or None."""
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str) or not PATTERN.match(name):
            return f"test set name {name!r} must be {RULE}"
        if name.lower() in RESERVED:
            what = "the in-domain test split" if name.lower() == HELDOUT else \
                "a column group of the leaderboard"
            return f"test set name {name!r} is reserved for {what}; choose another name"
        if name.lower() in seen:
            return (f"test set names {seen[name.lower()]!r} and {name!r} differ only in case; "
                    "they would share one file")
        seen[name.lower()] = name
    return None
