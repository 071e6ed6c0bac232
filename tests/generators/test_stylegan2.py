"""The StyleGAN2 family (B-SG, M-SG, C-SG, MC-SG): networks, conditioning, fit, sample, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.api.errors import ConfigError, DataError
from bench.api.generator import FitContext, SampleContext
from bench.api.seeding import torch_generator
from bench.run.artifacts import build_generator
from bench.run.config import GeneratorSpec
from generators.stylegan2 import BSG, CSG, MCSG, MSG, StyleGAN2Params, gan
from generators.stylegan2.augment import Augment
from generators.stylegan2.model import PRESETS, one_hot
from generators.stylegan2.networks import (
    Discriminator,
    GeneratorNetwork,
    ModulatedConv2d,
    minibatch_stddev,
)
from tests.conftest import call_cli

NAMES = ("b-sg", "m-sg", "c-sg", "mc-sg")


def tiny(name: str, **params):
    return build_generator(GeneratorSpec(name=name, preset="tiny", params=params))


@pytest.fixture(scope="module")
def fitted(lesion_phantom, tmp_path_factory):
    """All four, fitted on T1 + FLAIR volumes: multi-modal output is exercised."""
    models = {}
    for name in NAMES:
        model = tiny(name)
        model.fit(lesion_phantom, FitContext(workdir=tmp_path_factory.mktemp(name), seed=0))
        models[name] = model
    return models


def random_masks(n: int, k: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return one_hot(torch.randint(0, k, (n, size, size), generator=g), k)


# ---- networks ----------------------------------------------------------------------------
def test_modulated_convolution_equals_convolving_with_modulated_demodulated_weights():
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 5, 3, w_dim=8)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(2, 8)
    style = conv.affine(w)
    for i in range(2):  # StyleGAN2's equations 1 and 3, one sample at a time
        weight = conv.weight * conv.scale * style[i][None, :, None, None]
        weight = weight / weight.pow(2).sum((1, 2, 3), keepdim=True).add(1e-8).sqrt()
        expected = F.conv2d(x[i:i + 1], weight, padding=1)
        torch.testing.assert_close(conv(x, w)[i:i + 1], expected, rtol=1e-4, atol=1e-5)


def test_minibatch_stddev_appends_the_group_standard_deviation():
    x = torch.randn(4, 3, 2, 2)
    out = minibatch_stddev(x, group=2)  # groups: samples {0, 2} and {1, 3}
    assert out.shape == (4, 4, 2, 2)
    expected = x[[0, 2]].std(0, unbiased=False).mean()
    torch.testing.assert_close(out[0, 3], torch.full((2, 2), float(expected)), rtol=1e-4,
                               atol=1e-5)
    torch.testing.assert_close(out[2, 3], out[0, 3])


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_every_resolution_builds_and_channels_shrink_as_resolution_grows(resolution):
    g = GeneratorNetwork(resolution, 2, 8, 8, 1, channel_base=1024, channel_max=32)
    d = Discriminator(resolution, 2, channel_base=1024, channel_max=32)
    out = g(torch.randn(2, 8))
    assert out.shape == (2, 2, resolution, resolution)
    assert d(out).shape == (2,)
    assert g.synthesis.to_rgb[-1].conv.weight.shape[1] == min(1024 // resolution, 32)
    assert g.synthesis.num_ws == 2 * int(math.log2(resolution)) - 2


def test_conditional_generator_output_changes_with_the_mask_alone():
    torch.manual_seed(0)
    g = GeneratorNetwork(32, 1, 8, 8, 1, channel_base=256, channel_max=16, mask_channels=3)
    z = torch.randn(2, 8)
    a, b = random_masks(2, 3, 32, 0), random_masks(2, 3, 32, 1)

    def run(mask):
        torch.manual_seed(1)  # same noise inputs
        return g(z, mask)

    torch.testing.assert_close(run(a), run(a))  # the only thing that differs below is the mask
    assert (run(a) - run(b)).abs().mean() > 1e-3
    # the mask reaches every block: each convolution after the first and every toRGB take it
    layers = g.synthesis.layers
    outs = [layer.conv.weight.shape[0] for layer in layers]
    assert [layer.conv.weight.shape[1] for layer in layers[1:]] == [c + 3 for c in outs[:-1]]
    last_of_block = [outs[0]] + outs[2::2]
    assert [rgb.conv.weight.shape[1] for rgb in g.synthesis.to_rgb] == \
        [c + 3 for c in last_of_block]


def test_conditional_discriminator_sees_the_mask_at_its_input_and_every_block():
    torch.manual_seed(0)
    d = Discriminator(32, 1, channel_base=256, channel_max=16, mask_channels=3)
    x = torch.randn(2, 1, 32, 32)
    a = random_masks(2, 3, 32, 0).requires_grad_(True)
    assert not torch.allclose(d(x, a), d(x, random_masks(2, 3, 32, 1)))
    seen = []
    hooks = [block.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
             for block in d.blocks]
    d(x, a).sum().backward()
    for h in hooks:
        h.remove()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert d.from_rgb.weight.shape[1] == 1 + 3
    features = [d.from_rgb.weight.shape[0]] + [b.conv1.weight.shape[0] for b in d.blocks[:-1]]
    assert seen == [c + 3 for c in features]
    with pytest.raises(ValueError, match="mask"):
        d(x)


# ---- augmentation ------------------------------------------------------------------------
def test_augmentation_moves_image_and_mask_together_and_keeps_masks_one_hot():
    torch.manual_seed(0)
    masks = random_masks(8, 3, 32, 2)
    image = masks[:, 1:2] * 0.5 + masks[:, 2:3]  # intensity determined by the label
    out = Augment("diffaugment", image_channels=1)(torch.cat([image, masks], 1))
    assert not torch.equal(out[:, :1], image), "augmentation must change something"
    m = out[:, 1:]
    assert set(m.unique().tolist()) <= {0.0, 1.0}, "masks are only moved or cut out"
    labels, kept = m.argmax(1), m.sum(1) > 0
    for i in range(8):  # brightness/contrast are affine per image: labels still sort intensity
        values = [out[i, 0][kept[i] & (labels[i] == k)] for k in range(3)]
        values = [v for v in values if len(v)]
        for v in values:
            assert v.max() - v.min() < 1e-5, "pixels of one label share one intensity"


def test_ada_raises_p_when_the_discriminator_is_confident_and_lowers_it_otherwise():
    ada = Augment("ada", image_channels=1, speed_kimg=0.01)
    assert float(ada.p) == 0.0
    for _ in range(4):
        ada.observe(torch.ones(16))
    raised = float(ada.p)
    assert raised > 0
    for _ in range(4):
        ada.observe(-torch.ones(16))
    assert float(ada.p) < raised
    off = Augment("off", image_channels=1)
    x = torch.randn(2, 2, 8, 8)
    assert torch.equal(off(x), x)


# ---- the four generators -----------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_samples_are_2d_pairs_with_labels_in_range(fitted, lesion_phantom, name):
    samples = fitted[name].sample(4, SampleContext(seed=1))
    assert len(samples) == 4 and samples.spatial_dims == 2
    assert samples.labels == lesion_phantom.labels
    expected = ["mask"] if name == "m-sg" else lesion_phantom.channels
    assert samples.channels == expected
    for case in samples:
        assert case.image.shape == (len(expected), 32, 32)
        assert case.label.min() >= 0 and case.label.max() <= max(lesion_phantom.labels)
        assert np.isfinite(case.image).all()  # in the data's units: no clamp at 0


@pytest.mark.parametrize("name", NAMES)
def test_saved_generator_keeps_a_training_curve_per_gan(fitted, tmp_path, name):
    """Save → load → same samples and seeds: tests/run/test_builtin_conformance.py."""
    model = fitted[name]
    model.save(tmp_path / "model")
    for kind in type(model).kinds:
        curve = (tmp_path / "model" / f"curve_{kind.name}.csv").read_text().splitlines()
        assert curve[0].split(",")[:4] == ["step", "d", "d_real", "r1"]
        assert len(curve) == 1 + model.params.steps


def test_mc_sg_trains_both_gans_and_paints_its_own_masks(fitted):
    model = fitted["mc-sg"]
    assert set(model.nets) == {"m-sg", "c-sg"}
    samples = model.sample(3, SampleContext(seed=5))
    masks = model._masks(3, SampleContext(seed=5), torch_generator(5))
    for case, mask in zip(samples, masks, strict=True):
        np.testing.assert_array_equal(case.label, mask.numpy())


def test_c_sg_paints_given_masks_and_style_masks(fitted, lesion_phantom):
    from bench.replicate.quality.common import real_slices

    model = fitted["c-sg"]
    maps = real_slices(lesion_phantom, (32, 32), 2, 0.3, "resize")
    painted = model.images_for(maps, SampleContext(seed=0))
    for case, real in zip(painted, maps, strict=True):
        np.testing.assert_array_equal(case.label, real.label)
    styled = model.sample(4, SampleContext(seed=0, style=lesion_phantom))
    assert all(c.meta["mask"] in lesion_phantom.ids for c in styled)
    with pytest.raises(DataError, match="size"):
        model.images_for(real_slices(lesion_phantom, (16, 16), 2, 0.3, "resize"),
                         SampleContext())
    from bench.api import PaintsMasks

    assert not isinstance(fitted["b-sg"], PaintsMasks)  # B-SG has no conditional generator


def test_channel_choice_and_lesion_fraction(fitted):
    flair = fitted["b-sg"].sample(2, SampleContext(seed=0, channels=["FLAIR"]))
    both = fitted["b-sg"].sample(2, SampleContext(seed=0))
    assert flair.channels == ["FLAIR"]
    np.testing.assert_array_equal(flair[0].image[0], both[0].image[1])
    with pytest.raises(DataError, match="PD"):
        fitted["c-sg"].sample(1, SampleContext(channels=["PD"]))
    with pytest.raises(ConfigError, match="lesion"):
        fitted["b-sg"].sample(1, SampleContext(lesion_ratio=0.5))
    with pytest.raises(ConfigError, match="fitted"):
        BSG().sample(1, SampleContext())


def test_training_moves_the_ema_generator_and_records_lazy_regularisation(fitted):
    model = fitted["b-sg"]
    torch.manual_seed(0)  # the fit's seed: these are the initial weights
    initial, _ = gan.build(gan.JOINT, 2, max(model.state.labels) + 1, model.params)
    trained = dict(model.nets["b-sg"].named_parameters())
    assert any(not torch.equal(p, trained[k]) for k, p in initial.named_parameters())
    curve = model.curves["b-sg"].set_index("step")
    p = model.params
    for column, every in (("r1", p.r1_every), ("pl", p.pl_every)):
        done = curve[column].notna()
        assert list(done[done].index) == [s for s in curve.index if (s - 1) % every == 0]
    assert curve["augment_p"].between(0, 1).all()


def test_params_are_validated():
    with pytest.raises(ValueError, match="resolution"):
        StyleGAN2Params(resolution=48)
    with pytest.raises(ValueError, match="augment"):
        StyleGAN2Params(augment="sometimes")
    for preset in PRESETS.values():
        StyleGAN2Params(**preset)
    assert StyleGAN2Params(**PRESETS["paper"]).resolution == 256
    assert {BSG.name, MSG.name, CSG.name, MCSG.name} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_cli_fit_sample_and_data_check(capsys, phantom3_dir, tmp_path, name):
    folder, out = tmp_path / "g", tmp_path / "samples"
    fit = call_cli(capsys, "generator", "fit", name, "--data", str(phantom3_dir), "--preset",
                   "tiny", "--out", str(folder), "--device", "cpu")
    assert fit.returncode == 0, fit.stderr
    sample = call_cli(capsys, "generator", "sample", str(folder), "-n", "3", "--out", str(out),
                      "--device", "cpu")
    assert sample.returncode == 0, sample.stderr
    check = call_cli(capsys, "data", "check", str(out))
    assert check.returncode == 0 and "3 cases" in check.stdout, check.stdout + check.stderr
