"""Pytest helpers for adapter packages: the conformance check as one assertion.

    from bench.testing import assert_generator_conforms

    def test_my_gan_conforms():
        assert_generator_conforms(MyGan, preset="tiny")

A failure raises AssertionError with the whole rule table, so the test log shows every broken
rule at once, with the same words as ``synth2seg generator check``.
"""

from __future__ import annotations

import io

from rich.console import Console

from bench.cli.check import failed, results_table
from bench.run.generator_conformance import Result, check_generator
from bench.run.segmenter_conformance import check_segmenter


def assert_generator_conforms(cls: type, **options) -> list[Result]:
    """Run :func:`bench.run.generator_conformance.check_generator` (same options); the results."""
    return _assert(check_generator(cls, **options), f"generator {cls.__qualname__}")


def assert_segmenter_conforms(cls: type, **options) -> list[Result]:
    """Run :func:`bench.run.segmenter_conformance.check_segmenter` (same options)."""
    return _assert(check_segmenter(cls, **options), f"segmenter {cls.__qualname__}")


def _assert(results: list[Result], title: str) -> list[Result]:
    broken = failed(results)
    if broken:
        console = Console(file=io.StringIO(), width=120, color_system=None)
        console.print(results_table(results, title))
        raise AssertionError(f"{title} breaks {', '.join(broken)}:\n"
                             f"{console.file.getvalue()}")
    return results
