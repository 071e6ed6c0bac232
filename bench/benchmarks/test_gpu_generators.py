"""Generator training stages and sampling on a GPU, at the ``paper`` sizes (`make bench-gpu`).

One figure per training stage: seconds per step (the stage's own batch), measured as the
difference between a run of ``WARMUP + STEPS`` steps and one of ``WARMUP`` steps, so that set-up,
compilation and the last checkpoint cancel out. Stages: brainSPADE's classifier, VAE, LDM and
SPADE; the StyleGAN2 family's B-SG (joint), M-SG (masks) and C-SG (conditional) steps (a
discriminator and a generator update each, lazy regularisers at their intervals); MedGen3D's
MC-DPM, sequence generator and one view's refiner (the other two views cost the same). Then
sampling throughput at the preset's sampler. The step times times each preset's steps give the
projected cost of a paper experiment (README, "Projected cost").

Data: the embedded phantom, resampled to each preset's grid; speed does not depend on the data.
Perceptual losses use LPIPS only where its weights are cached (else the in-domain substitute,
as a fit would). Skipped without CUDA; ``SYNTH2SEG_BENCH_DEVICE=cpu SYNTH2SEG_BENCH_PRESET=tiny``
runs the same code on the CPU.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from bench.api.generator import FitContext, SampleContext
from bench.api.seeding import torch_generator
from bench.benchmarks.mfu import synchronise
from bench.data.phantom import PhantomConfig, make_phantom
from generators import perceptual
from generators.brainspade import images as img
from generators.brainspade import labels as lab
from generators.brainspade.model import PRESETS as BRAINSPADE
from generators.brainspade.model import BrainSPADEParams
from generators.intensity import IntensityRange
from generators.medgen3d import PRESETS as MEDGEN3D
from generators.medgen3d import MedGen3D, MedGen3DParams
from generators.medgen3d import masks as mk
from generators.medgen3d import refiner as rf
from generators.medgen3d import sequence as sq
from generators.medgen3d.data import volume_bank
from generators.medgen3d.model import MedGen3DState
from generators.slicebank import slice_bank
from generators.stylegan2 import gan
from generators.stylegan2.model import PRESETS as STYLEGAN2
from generators.stylegan2.model import StyleGAN2Params, one_hot

DEVICE = os.environ.get("SYNTH2SEG_BENCH_DEVICE", "cuda")
PRESET = os.environ.get("SYNTH2SEG_BENCH_PRESET", "paper")
STEPS = int(os.environ.get("SYNTH2SEG_BENCH_STEPS", "10"))
WARMUP = 2
LABELS, CHANNELS = 4, 1

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(PhantomConfig(subjects=2, seed=0))


def _seconds_per_step(run, tmp_path: Path) -> float:
    """``run(steps, workdir)`` trains one stage from scratch for ``steps`` steps."""
    times = []
    for steps in (WARMUP, WARMUP + STEPS):
        torch.manual_seed(0)
        started = time.perf_counter()
        run(steps, tmp_path / f"steps{steps}")
        synchronise(DEVICE)
        times.append(time.perf_counter() - started)
    return (times[1] - times[0]) / STEPS


def _report(benchmark, family: str, stage: str, seconds: float, batch: int) -> None:
    benchmark.extra_info.update({"seconds_per_step": seconds, "batch": batch, "device": DEVICE,
                                 "device_name": _device_name(), "preset": PRESET})
    print(f"\n{family} {stage} {PRESET} on {_device_name()}: {seconds * 1e3:.1f} ms/step "
          f"(batch {batch})")


def _device_name() -> str:
    return torch.cuda.get_device_name(DEVICE) if DEVICE.startswith("cuda") else "cpu"


# ---- brainSPADE ------------------------------------------------------------------------------
def _brainspade(**steps) -> BrainSPADEParams:
    epochs = {f"{s}_epochs": None for s in ("classifier", "vae", "ldm", "spade")}
    return BrainSPADEParams(**{**BRAINSPADE[PRESET], **epochs, "checkpoint_every": 10**6,
                               **steps})


@pytest.fixture(scope="module")
def brainspade_bank(phantom):
    p = _brainspade()
    return slice_bank(phantom, tuple(p.size), p.fit, p.axis, p.min_foreground, [], 1)


def _brainspade_stage(stage: str, bank, steps: int, workdir: Path) -> None:
    p = _brainspade(**{f"{stage}_steps": steps})
    ctx, n = FitContext(workdir=workdir, device=DEVICE), bank.pv.shape[1]
    if stage == "classifier":
        img.train_classifier(img.build_classifier(bank, p), bank, p, ctx)
    elif stage == "vae":
        lab.train_vae(lab.build_vae(n, p), bank, p, ctx,
                      perceptual.resolve(p.vae_perceptual_net, ("squeeze", "alex", "vgg"))[0])
    elif stage == "ldm":
        vae = lab.build_vae(n, p).to(DEVICE)
        latents = lab.encode_latents(vae, bank, DEVICE)
        lab.train_ldm(lab.build_ldm(p, False), latents, lab.latent_scale(*latents), bank, False,
                      p, ctx)
    else:
        net = perceptual.resolve(p.spade_perceptual_net, ("vgg", "squeeze", "alex"))[0]
        img.train_spade(img.build_spade(n, p), img.build_classifier(bank, p).to(DEVICE), bank,
                        p, ctx, net)


@pytest.mark.parametrize("stage", ["classifier", "vae", "ldm", "spade"])
def test_brainspade_stage_step_time(benchmark, tmp_path, brainspade_bank, stage):
    seconds = benchmark.pedantic(_seconds_per_step, args=(
        lambda steps, workdir: _brainspade_stage(stage, brainspade_bank, steps, workdir),
        tmp_path), rounds=1, iterations=1)
    _report(benchmark, "brainspade", stage, seconds, getattr(_brainspade(), f"{stage}_batch"))


def test_brainspade_sampling_throughput(benchmark):
    p = _brainspade()
    torch.manual_seed(0)
    vae, ldm = lab.build_vae(LABELS, p).to(DEVICE), lab.build_ldm(p, False).to(DEVICE)
    spade, n = img.build_spade(LABELS, p).to(DEVICE), p.sample_batch

    def draw() -> float:
        started = time.perf_counter()
        pv = lab.sample_labels(vae, ldm, 1.0, torch.zeros(n), tuple(p.size), p, False, DEVICE,
                               torch_generator(0, DEVICE))
        img.synthesise(spade, pv, torch.rand(n, 1, *p.size), DEVICE)
        synchronise(DEVICE)
        return n / (time.perf_counter() - started)

    rate = benchmark.pedantic(draw, rounds=1, iterations=1)
    benchmark.extra_info.update({"samples_per_s": rate, "sampler": f"{p.sampler}-"
                                 f"{p.sample_steps}", "device_name": _device_name()})
    print(f"\nbrainspade {PRESET} sampling ({p.sampler}, {p.sample_steps} steps) on "
          f"{_device_name()}: {rate:.2f} label+image slices/s")


# ---- StyleGAN2 family ------------------------------------------------------------------------
def _stylegan2(**extra) -> StyleGAN2Params:
    return StyleGAN2Params(**{**STYLEGAN2[PRESET], "kimg": None, "checkpoint_every": 10**6,
                              **extra})


KINDS = {"b-sg": gan.JOINT, "m-sg": gan.MASKS, "c-sg": gan.CONDITIONAL}


@pytest.mark.parametrize("kind", KINDS)
def test_stylegan2_step_time(benchmark, tmp_path, kind):
    p = _stylegan2()
    images = torch.rand(64, CHANNELS, p.resolution, p.resolution) * 2 - 1
    masks = one_hot(torch.randint(0, LABELS, (64, p.resolution, p.resolution)), LABELS)

    def run(steps: int, workdir: Path) -> None:
        q = _stylegan2(steps=steps)
        g, d = gan.build(KINDS[kind], CHANNELS, LABELS, q)
        gan.train(KINDS[kind], g, d, gan.new_ema(g), images, masks, q,
                  FitContext(workdir=workdir, device=DEVICE))

    seconds = benchmark.pedantic(_seconds_per_step, args=(run, tmp_path), rounds=1,
                                 iterations=1)
    _report(benchmark, "stylegan2", kind, seconds, p.batch)


# ---- MedGen3D --------------------------------------------------------------------------------
def _medgen3d(**steps) -> MedGen3DParams:
    return MedGen3DParams(**{**MEDGEN3D[PRESET], "checkpoint_every": 10**6, **steps})


@pytest.fixture(scope="module")
def medgen3d_bank(phantom):
    p = _medgen3d()
    return volume_bank(phantom, p.depth, p.size, p.axis)


MEDGEN3D_STAGES = {
    "masks": ("mask_steps", "mask_batch",
              lambda p, bank, ctx: mk.train_masks(mk.MCDPM(p, bank.n_labels), bank, p,
                                                    ctx)),
    "sequence": ("seq_steps", "seq_batch", lambda p, bank, ctx: sq.train_sequence(
        sq.SequenceGenerator(bank.n_labels, CHANNELS, p), bank, p, ctx)),
    "refiner (one view)": ("refiner_steps", "refiner_batch", lambda p, bank, ctx:
                           rf.train_refiner(rf.build(bank.n_labels, CHANNELS, p), rf.VIEWS[0],
                                            bank, p, ctx)),
}


@pytest.mark.parametrize("stage", MEDGEN3D_STAGES)
def test_medgen3d_stage_step_time(benchmark, tmp_path, medgen3d_bank, stage):
    steps_field, batch_field, train = MEDGEN3D_STAGES[stage]

    def run(steps: int, workdir: Path) -> None:
        train(_medgen3d(**{steps_field: steps}), medgen3d_bank,
              FitContext(workdir=workdir, device=DEVICE))

    seconds = benchmark.pedantic(_seconds_per_step, args=(run, tmp_path), rounds=1,
                                 iterations=1)
    _report(benchmark, "medgen3d", stage, seconds, getattr(_medgen3d(), batch_field))


def test_medgen3d_sampling_time_per_volume(benchmark, phantom):
    generator = MedGen3D(_medgen3d())
    torch.manual_seed(0)
    generator.state = MedGen3DState(
        {i: f"label{i}" for i in range(LABELS)}, ["T1"], LABELS, phantom[0].spacing,
        phantom[0].spatial_shape, 0, IntensityRange((0.0,), (1.0,)), (-1.0, 1.0), {})
    generator.nets = {k: v.eval() for k, v in MedGen3D.networks(generator.params,
                                                                generator.state).items()}

    def one() -> float:
        started = time.perf_counter()
        generator.sample(1, SampleContext(seed=0, device=DEVICE))
        synchronise(DEVICE)
        return time.perf_counter() - started

    seconds = benchmark.pedantic(one, rounds=1, iterations=1)
    benchmark.extra_info.update({"seconds_per_volume": seconds, "device_name": _device_name()})
    print(f"\nmedgen3d {PRESET} sampling on {_device_name()}: {seconds:.1f} s per volume")
