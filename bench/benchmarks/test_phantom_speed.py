"""Phantom generation speed: `make bench` (or pytest bench/benchmarks -m "" --benchmark-only).

The issue's target: 40 subjects at 2 mm in under 60 s on 2 CPU cores. The baseline in the same
run is reading the same 40 subjects back from the on-disk cache, so the figure to report is the
ratio of the two.
"""

from bench.data import phantom as ph
from bench.data.phantom import PhantomConfig, make_phantom

CONFIG = PhantomConfig(subjects=40, resolution=2.0, seed=0)


def _cold():
    ph._template.cache_clear()  # count the template preparation too
    return make_phantom(CONFIG, use_cache=False)


def test_generate_40_subjects_2mm(benchmark):
    cases = benchmark.pedantic(_cold, rounds=1, iterations=1)
    assert len(cases) == 40


def test_generate_40_subjects_2mm_with_lesions(benchmark):
    config = CONFIG.model_copy(update={"lesions": True})
    cases = benchmark.pedantic(lambda: make_phantom(config, use_cache=False), rounds=1,
                               iterations=1)
    assert len(cases) == 40


def test_baseline_read_40_cached_subjects(benchmark, tmp_path):
    make_phantom(CONFIG, cache_dir=tmp_path)
    cases = benchmark.pedantic(lambda: make_phantom(CONFIG, cache_dir=tmp_path), rounds=3,
                               iterations=1)
    assert len(cases) == 40
