"""brainSPADE: fit, sample, save/load, resume, lesion conditioning, style images (tiny preset)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bench.api.case import CaseSet, pv_consistent
from bench.api.errors import ConfigError, DataError
from bench.api.generator import FitContext, SampleContext
from bench.api.seeding import torch_generator
from bench.run.artifacts import build_generator
from bench.run.config import GeneratorSpec
from generators import perceptual
from generators.brainspade import BrainSPADE, BrainSPADEParams


def tiny(**params) -> BrainSPADE:
    return build_generator(GeneratorSpec(name="brainspade", preset="tiny", params=params))


@pytest.fixture(scope="module")
def fitted(lesion_phantom, tmp_path_factory):
    """Fitted on T1 + FLAIR volumes with tumours, so every code path is exercised."""
    generator = tiny(min_lesion_pixels=1)
    generator.fit(lesion_phantom, FitContext(workdir=tmp_path_factory.mktemp("bs"), seed=0))
    return generator


def test_samples_are_2d_cases_with_pv_maps_and_all_channels(fitted, lesion_phantom):
    samples = fitted.sample(5, SampleContext(seed=1))
    assert len(samples) == 5 and samples.spatial_dims == 2
    assert samples.channels == lesion_phantom.channels
    assert samples.labels == lesion_phantom.labels
    for case in samples:
        assert case.image.shape == (2, 32, 32)
        assert pv_consistent(case.pv, case.label), "labels must be the argmax of the pv maps"
        assert np.isfinite(case.image).all()


def test_saved_generator_keeps_its_training_curves(fitted, tmp_path):
    """Save → load → same samples and seeds: tests/run/test_builtin_conformance.py."""
    fitted.save(tmp_path / "model")
    assert (tmp_path / "model" / "curve_spade.csv").exists()


def test_lesion_fraction_sets_the_lesion_flag_of_samples(fitted):
    assert fitted.state.conditioned, "tumour labels must switch lesion conditioning on"
    flags = [c.meta["lesion"] for c in fitted.sample(8, SampleContext(seed=0, lesion_ratio=0.25))]
    assert sum(flags) == 2
    assert all(c.meta["lesion"] for c in fitted.sample(3, SampleContext(seed=0, lesion_ratio=1)))


def test_lesion_condition_reaches_the_diffusion_model(fitted):
    """Same noise, other lesion flag: the LDM's output must differ (it is not ignored)."""
    p, s = fitted.params, fitted.state
    from generators.brainspade.labels import sample_labels

    outs = []
    for flag in (0, 1):
        outs.append(sample_labels(fitted.nets["vae"], fitted.nets["ldm"], s.scale,
                                  torch.tensor([flag]), tuple(p.size), p, True, "cpu",
                                  torch_generator(0)))
    assert not torch.allclose(outs[0], outs[1])


def test_lesions_asked_of_a_healthy_generator_is_a_config_error(phantom, tmp_path):
    generator = tiny()
    generator.fit(phantom, FitContext(workdir=tmp_path, seed=0))
    assert not generator.state.conditioned
    with pytest.raises(ConfigError, match="without lesion labels"):
        generator.sample(2, SampleContext(lesion_ratio=0.5))


def test_unlabelled_style_images_set_the_output_channels(fitted, phantom):
    """Target-domain style images carry no labels; their channels become the samples'."""
    flair = CaseSet([dataclasses.replace(c, label=None, pv=None) for c in phantom],
                    dict(phantom.labels), ["FLAIR"], 3, {"source": "style"})
    samples = fitted.sample(3, SampleContext(seed=0, style=flair))
    assert samples.channels == ["FLAIR"]
    assert {c.meta["style"] for c in samples} <= set(phantom.ids)


def test_missing_lpips_weights_fall_back_to_a_recorded_substitute(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    kind, note = perceptual.resolve("auto")
    assert kind == "in-domain" and "$TORCH_HOME/hub/checkpoints" in note
    assert str(tmp_path) not in note  # saved in the fit's meta.json, which demo fits publish
    with pytest.raises(ConfigError, match="squeezenet1_1-b8a52dc0.pth"):
        perceptual.resolve("squeeze")


def test_auto_chooses_a_backbone_whose_weights_are_cached(monkeypatch, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / perceptual.BACKBONE_FILES["alex"]).write_bytes(b"")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert perceptual.resolve("auto", ("squeeze", "alex"))[0] == "alex"


@pytest.mark.parametrize("bad, message", [
    ({"size": (40, 40), "ldm_channels": (16, 16, 16), "ldm_attention": (False,) * 3},
     "divisible"),
    ({"ldm_attention": (False,)}, "one entry per"),
    ({"spade_perceptual_net": "resnet"}, "perceptual net"),
])
def test_inconsistent_params_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        BrainSPADEParams(**bad)


def test_epochs_become_steps_for_the_number_of_slices():
    generator = BrainSPADE(BrainSPADEParams(vae_epochs=2, vae_batch=10))
    assert generator._resolve_steps(25).vae_steps == 5


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_samplers_do_not_clip_latents_to_the_unit_interval(kind):
    """MONAI's schedulers clip the predicted x0 to [-1, 1] by default; scaled latents are
    N(0, 1)-like, so clipping would cut a third of them (DDIM samples became background)."""
    from generators.brainspade.labels import scheduler

    sched = scheduler(kind, 50, 1000)
    latent = torch.full((1, 1, 2, 2), 3.0)
    previous, _ = sched.step(torch.zeros_like(latent), sched.timesteps[-1], latent)
    assert previous.min() > 2.5


def test_two_sites_switch_the_dataset_loss_on(phantom, tmp_path):
    """The paper's dataset term needs more than one dataset; it must then enter the SPADE loss."""
    from bench.data.phantom import PhantomConfig, make_phantom

    site_b = make_phantom(PhantomConfig(subjects=1, site="B", seed=5))
    both = CaseSet(phantom.cases[:2] + site_b.cases, dict(phantom.labels), ["T1"], 3)
    generator = tiny()
    generator.fit(both, FitContext(workdir=tmp_path, seed=0))
    assert generator.state.sites == ["A", "B"]
    assert generator.state.losses["site_loss"] == "on"
    assert "site" in generator.curves["spade"].columns
    assert "site" in generator.curves["classifier"].columns


def test_generated_images_are_weighted_by_the_brain_share_of_each_pixel(fitted):
    """Skull-stripped data is at its minimum outside the brain: masking scales SPADE's output
    above the data's minimum (``low``) by the brain's share 1 - pv_bg."""
    low = np.asarray(fitted.state.intensity.low, np.float32)[:, None, None]
    masked = fitted.sample(2, SampleContext(seed=0))
    fitted.params = fitted.params.model_copy(update={"mask_background": False})
    try:
        raw = fitted.sample(2, SampleContext(seed=0))
    finally:
        fitted.params = fitted.params.model_copy(update={"mask_background": True})
    for m, r in zip(masked, raw, strict=True):
        np.testing.assert_allclose(m.image - low, (r.image - low) * (1.0 - m.pv[0]), atol=1e-5)
        background = m.pv[0] == 1.0  # pure background (sampled maps are soft: may be empty)
        np.testing.assert_allclose(m.image[:, background], np.broadcast_to(
            low[:, :, 0], (len(low), int(background.sum()))), atol=1e-5)


def test_images_for_given_maps_keep_those_maps(fitted, lesion_phantom):
    """The image generator alone: painting real maps returns exactly those maps as labels."""
    from bench.api.slices import extract_slices

    maps = extract_slices(lesion_phantom.subset([0]), size=(32, 32), min_foreground=0.3).cases
    painted = fitted.images_for(maps.subset(range(3)), SampleContext(seed=0))
    assert painted.ids == maps.ids[:3]
    for real, fake in zip(maps, painted, strict=False):
        np.testing.assert_array_equal(fake.label, real.pv.argmax(0))
        assert fake.image.shape == (2, 32, 32)
    with pytest.raises(DataError, match="maps of size"):
        fitted.images_for(extract_slices(lesion_phantom.subset([0]), size=(16, 16)).cases,
                          SampleContext())


def test_the_vae_dice_term_makes_dropping_a_rare_class_costly():
    """The 3.3 fit's VAE reconstructed no tumour: dropping a class on 1% of the pixels costs
    L1 almost nothing. The Dice term (demo preset) must cost it; the paper's loss
    (vae_dice = 0) stays L1 alone."""
    from generators.brainspade.labels import reconstruction_losses

    truth, dropped = _maps_with_a_rare_class()
    l1, dice = reconstruction_losses(dropped, truth, 1.0, [2])
    assert l1 < 0.01
    assert dice > 0.9, "the lesion channel lost entirely"
    assert reconstruction_losses(truth, truth, 1.0, [2])[1] < 1e-4
    assert reconstruction_losses(dropped, truth, 0.0, [2])[1] == 0


def test_the_vae_dice_term_leaves_tissue_classes_to_l1():
    """A Dice term over every class made 3.1's VAE paint CSF wherever it was a partial fraction
    (argmax share 13% against the maps' 8%), so it covers lesion channels only: a blurred
    tissue boundary costs L1 alone, and tissue-only data has no Dice term at all."""
    from generators.brainspade.labels import reconstruction_losses

    truth, _ = _maps_with_a_rare_class()
    blurred = 0.5 * truth + 0.5 * truth.mean(dim=(2, 3), keepdim=True)
    l1, dice = reconstruction_losses(blurred, truth, 1.0, [])
    assert l1 > 0.1
    assert dice == 0, "no lesion channel, no Dice term"
    assert reconstruction_losses(blurred, truth, 1.0, [2])[1] > 0.3, "a blurred lesion costs Dice"


def _maps_with_a_rare_class() -> tuple[torch.Tensor, torch.Tensor]:
    """Three-class maps (background, a class on half of each map, one on 1% of it) and the
    same maps with the rare class merged into the background."""
    truth = torch.zeros(4, 3, 20, 20)
    truth[:, 0] = 1.0
    truth[:, 1, :10] = 1.0
    truth[:, 0, :10] = 0.0
    truth[:, 2, 15:17, 15:17] = 1.0
    truth[:, 0, 15:17, 15:17] = 0.0
    dropped = truth.clone()
    dropped[:, 0] += dropped[:, 2]
    dropped[:, 2] = 0.0
    return truth, dropped


def test_the_paper_vae_loss_has_no_dice_term():
    assert BrainSPADEParams().vae_dice == 0, "the paper's loss has no Dice term"
