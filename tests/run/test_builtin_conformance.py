"""Every built-in generator and segmenter passes the conformance check at its tiny preset.

This replaces the families' own copies of the same checks (labels and channels of samples,
save → load → same samples, one seed twice, another seed, an interrupted fit that resumes to
the uninterrupted result); their family-specific tests stay in their files.
"""

from __future__ import annotations

import pytest

from bench.api.registry import get_generator, get_segmenter
from bench.testing import assert_generator_conforms, assert_segmenter_conforms

SLOW = pytest.mark.slow  # the same networks as a faster entry: m-sg + c-sg = mc-sg's two GANs


@pytest.fixture(scope="module")
def cases():
    """Three 4 mm phantom subjects: every rule runs, each fit takes seconds."""
    from bench.data.phantom import PhantomConfig, make_phantom

    return make_phantom(PhantomConfig(subjects=3, seed=7, resolution=4.0))


# MedGen3D's tiny preset samples with a DDPM over all 20 steps, window by window: one DDIM over 5
# steps and one sample per call keep its check to a few fits and a dozen short samplings
FASTER = {"medgen3d": {"params": {"sample_steps": 5}, "n": 1}}


@pytest.mark.parametrize("name", ["none", "phantom-oracle", "brainspade", "b-sg", "mc-sg",
                                  pytest.param("m-sg", marks=SLOW),
                                  pytest.param("c-sg", marks=SLOW), "medgen3d"])
def test_builtin_generator_conforms(name, cases):
    results = {r.rule: r for r in assert_generator_conforms(get_generator(name), data=cases,
                                                            **FASTER.get(name, {}))}
    if name != "none":  # samples nothing; the rules about samples are skipped with the reason
        assert results["sample"].passed and results["save → load"].passed
    if name not in ("none", "phantom-oracle"):  # they have no training steps to interrupt
        assert results["interrupted fit resumes"].passed, results["interrupted fit resumes"]


@pytest.mark.parametrize("name", ["unet2d", "unet3d", "unetr", "swin_unetr",
                                  pytest.param("nnunet", marks=SLOW)])
def test_builtin_segmenter_conforms(name, cases):
    results = {r.rule: r for r in assert_segmenter_conforms(get_segmenter(name), data=cases)}
    assert results["predict"].passed and results["load from workdir"].passed
