"""MedGen3D: the time to sample one volume, with and without the semantic diffusion refiner.

Networks of the ``demo`` preset (``MEDGEN3D_PRESET=paper`` for the paper's sizes on a GPU) with
random weights: speed does not depend on the weights. One volume is the MC-DPM's windows over the
whole depth, the sequence generator's slices and, when refined, ``refine_steps`` denoising steps
of the three views' diffusion models. The baseline in the same run is the unrefined volume: the
ratio says what the refiner costs.
"""

import os
import time

import pytest
import torch

from bench.api.generator import SampleContext
from generators.intensity import IntensityRange
from generators.medgen3d import PRESETS, MedGen3D, MedGen3DParams
from generators.medgen3d.model import MedGen3DState

PRESET = os.environ.get("MEDGEN3D_PRESET", "demo")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LABELS, SHAPE = 4, (81, 98, 86)  # the phantom at 2 mm
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def model():
    generator = MedGen3D(MedGen3DParams(**PRESETS[PRESET]))
    torch.manual_seed(0)
    generator.state = MedGen3DState(
        {i: f"label{i}" for i in range(LABELS)}, ["T1"], LABELS, (2.0, 2.0, 2.0), SHAPE, 0,
        IntensityRange((0.0,), (1.0,)), (-1.0, 1.0), {})
    generator.nets = {k: v.eval() for k, v in MedGen3D.networks(generator.params,
                                                                generator.state).items()}
    return generator


@pytest.mark.parametrize("refine", [False, True], ids=["unrefined", "refined"])
def test_sample_one_volume(benchmark, model, refine):
    model.params = model.params.model_copy(update={"refine": refine})

    def one() -> float:
        started = time.perf_counter()
        model.sample(1, SampleContext(seed=0, device=DEVICE))
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    seconds = benchmark.pedantic(one, rounds=2, iterations=1)
    name = "refined" if refine else "unrefined"
    RESULTS[name] = seconds
    benchmark.extra_info.update({"seconds_per_volume": seconds, "device": DEVICE,
                                 "preset": PRESET})
    print(f"\n{PRESET} {name} volume on {DEVICE}: {seconds:.2f} s")
    if refine and "unrefined" in RESULTS:
        print(f"refined / unrefined sampling time: {seconds / RESULTS['unrefined']:.2f}")
