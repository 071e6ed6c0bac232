"""MedGen3D: the MC-DPM's conditioning and autoregressive plan, the sequence generator, the
refiner, fit/sample/save/load/resume on the phantom, and 3D segmenters on its samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.api.errors import ConfigError, DataError
from bench.api.generator import FitContext, SampleContext
from bench.api.seeding import torch_generator
from bench.api.slices import extract_slices
from bench.run.artifacts import build_generator
from bench.run.config import GeneratorSpec
from generators.medgen3d import MedGen3DParams
from generators.medgen3d import masks as mk
from generators.medgen3d import refiner as rf
from generators.medgen3d.data import decode, encode, from_grid, one_hot, to_grid, volume_bank
from generators.medgen3d.sequence import SequenceGenerator
from tests.conftest import call_cli

TINY = MedGen3DParams(**build_generator(GeneratorSpec(name="medgen3d", preset="tiny"))
                      .params.model_dump())


def tiny(**params):
    return build_generator(GeneratorSpec(name="medgen3d", preset="tiny", params=params))


@pytest.fixture(scope="module")
def fitted(lesion_phantom, tmp_path_factory):
    """Fitted on T1 + FLAIR volumes with six labels: multi-modal, multi-label."""
    model = tiny()
    model.fit(lesion_phantom, FitContext(workdir=tmp_path_factory.mktemp("medgen3d"), seed=0))
    return model


# data -----------------------------------------------------------------------------------------
def test_grid_round_trip_and_mask_encoding(phantom):
    case = phantom[0]
    grid = to_grid(case.label[None], 2, 16, 20, "nearest")
    assert grid.shape == (1, 16, 20, 20)  # the sequence axis (axial, 2) comes first
    back = from_grid(to_grid(case.label[None], 2, 86, 98, "nearest"), 2, case.spatial_shape,
                     "nearest")
    assert back.shape == (1, *case.spatial_shape)
    labels = torch.arange(6)
    values = encode(labels, 6)
    assert values.min() == -1 and values.max() == 1
    assert torch.equal(decode(values + 0.09, 6), labels)  # nearest level


# MC-DPM ---------------------------------------------------------------------------------------
def test_plan_covers_every_slice_and_overlaps_by_the_conditioning_slices():
    for first in range(0, 13):
        windows = mk.plan(first, 16, 4, 2)
        assert windows[0] == mk.Window(first, mk.UNCONDITIONAL)
        covered = set()
        for w in windows:
            if w.kind == mk.FORWARD:  # its first n slices exist already
                assert set(range(w.start, w.start + 2)) <= covered
            if w.kind == mk.BACKWARD:  # its last n slices exist already
                assert set(range(w.start + 2, w.start + 4)) <= covered
            covered |= set(range(w.start, w.start + 4))
        assert covered == set(range(16))


def test_loss_covers_only_the_generated_slices(phantom):
    p = TINY.model_copy(update={"p_uncond": 0.0, "p_forward": 1.0, "p_backward": 0.0})
    bank = volume_bank(phantom, p.depth, p.size, p.axis)
    prediction = torch.zeros(p.mask_batch, p.m, p.size, p.size, requires_grad=True)

    class Fixed(mk.MCDPM):
        def forward(self, *args):
            return prediction

    net = Fixed(p, bank.n_labels)
    loss = mk.training_step(net, mk.trainer(p), bank, p,
                            np.random.default_rng(0), torch_generator(0), "cpu")
    loss.backward()
    assert (prediction.grad[:, :p.n_cond] == 0).all()  # the conditioning slices
    assert (prediction.grad[:, p.n_cond:] != 0).any()


def test_mask_prediction_sets_what_the_mc_dpm_learns_and_how_it_samples(phantom):
    """An MC-DPM predicting the clean mask is trained against the mask and sampled as such:
    a network that always returns one valid mask yields exactly that mask. (The demo predicts
    the mask: with the paper's noise target, DDIM at the CPU budget left 95% of its voxels
    between the background and brain levels.)"""
    bank = volume_bank(phantom, TINY.depth, TINY.size, TINY.axis)
    mask = encode(bank.labels[0, :TINY.m], bank.n_labels)

    class Oracle(mk.MCDPM):  # returns the conditioning input, which in training is x0
        def forward(self, noisy, known, indicator, t, position):
            return known

    class Constant(mk.MCDPM):
        def forward(self, noisy, known, indicator, t, position):
            return mask.expand_as(noisy)

    losses = {}
    for prediction in ("epsilon", "sample", "v_prediction"):
        p = TINY.model_copy(update={"mask_prediction": prediction, "train_timesteps": 100})
        losses[prediction] = mk.training_step(
            Oracle(p, bank.n_labels), mk.trainer(p), bank, p, np.random.default_rng(0),
            torch_generator(0), "cpu").item()
    assert losses["sample"] == 0.0 and losses["epsilon"] > 0.1 and losses["v_prediction"] > 0.1

    for prediction, exact in (("sample", True), ("epsilon", False)):
        p = TINY.model_copy(update={"mask_prediction": prediction, "train_timesteps": 100,
                                    "sample_steps": 10})
        out = mk.denoise_window(Constant(p, bank.n_labels), mk.sampler(p),
                                torch.zeros(2, *mask.shape), torch.zeros(2, p.m),
                                torch.tensor([0, 0]), p.depth, torch_generator(0))
        same = torch.equal(decode(out, bank.n_labels),
                           decode(mask, bank.n_labels).expand(2, *mask.shape))
        assert same == exact, prediction


def test_one_hot_masks_decode_a_blurred_border_as_a_label_that_meets_there():
    """Halfway between background and grey matter, the paper's levels decode as CSF (the rim
    that made MedGen3D's demo masks 2.7 times too rich in CSF); one-hot channels cannot."""
    labels = torch.tensor([0, 1, 2, 3]).reshape(1, 4, 1, 1).expand(1, 4, 2, 2)
    for encoding in ("levels", "one_hot"):
        code = mk.MaskCode(encoding, 4)
        values = code.encode(labels)
        assert values.shape[1] == 4 * code.per_slice and values.abs().max() == 1
        assert torch.equal(code.decode(values), labels)
        background, grey = code.encode(torch.zeros_like(labels)), code.encode(labels * 0 + 2)
        border = code.decode(0.5 * background + 0.5 * grey + 0.01 * (grey - background))
        assert (border == (1 if encoding == "levels" else 2)).all(), encoding
    flags = torch.tensor([[1.0, 0.0]])
    assert mk.MaskCode("one_hot", 3).channels(flags).tolist() == [[1, 1, 1, 0, 0, 0]]


def test_a_one_hot_mc_dpm_trains_keeps_its_conditioning_and_samples_labels(phantom):
    p = TINY.model_copy(update={"mask_encoding": "one_hot", "mask_prediction": "sample",
                                "p_uncond": 0.0, "p_forward": 1.0, "p_backward": 0.0})
    bank = volume_bank(phantom, p.depth, p.size, p.axis)
    torch.manual_seed(0)
    net = mk.MCDPM(p, bank.n_labels)
    assert net.unet.conv_in.conv.in_channels == p.m * bank.n_labels + p.m
    loss = mk.training_step(net, mk.trainer(p), bank, p, np.random.default_rng(0),
                            torch_generator(0), "cpu")
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    with pytest.raises(ValueError, match="codes 5 labels, the volumes have 4"):
        mk.training_step(mk.MCDPM(p, bank.n_labels + 1), mk.trainer(p), bank, p,
                         np.random.default_rng(0), torch_generator(0), "cpu")
    known = net.code.encode(bank.labels[:2, 5:5 + p.m])
    flags = mk.indicators(np.full(2, mk.FORWARD), p.m, p.n_cond)
    out = mk.denoise_window(net.eval(), mk.sampler(p), known, flags, torch.tensor([5, 5]),
                            p.depth, torch_generator(0))
    assert torch.equal(net.code.decode(out)[:, :p.n_cond], bank.labels[:2, 5:5 + p.n_cond])
    volumes, _ = mk.generate(net, mk.sampler(p), 2, p.depth, p.size, p, "cpu",
                             np.random.default_rng(0), torch_generator(0))
    assert volumes.shape == (2, p.depth, p.size, p.size) and volumes.dtype == torch.long
    assert 0 <= volumes.min() and volumes.max() < bank.n_labels


def test_indicators_and_position_enter_the_network():
    torch.manual_seed(0)
    net = mk.MCDPM(TINY, 6).eval()
    for weight in net.parameters():  # MONAI starts some convolutions at zero
        if weight.ndim > 1 and not weight.any():
            torch.nn.init.normal_(weight, std=0.1)
    x, known = torch.randn(1, 4, 16, 16), torch.randn(1, 4, 16, 16)
    t = torch.tensor([5])
    flags = mk.indicators(np.array([mk.FORWARD]), 4, 2)
    assert flags.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    base = net(x, known, flags, t, torch.tensor([0]))
    assert not torch.allclose(base, net(x, known, torch.zeros_like(flags), t, torch.tensor([0])))
    assert not torch.allclose(base, net(x, known, flags, t, torch.tensor([3])))
    assert net.position(torch.tensor([0, 8, 15]), 16).tolist() == [0, 2, 3]


def test_forward_window_reproduces_its_conditioning_slices_unchanged(fitted, phantom):
    net, p = fitted.nets["masks"], fitted.params
    labels = volume_bank(phantom, p.depth, p.size, p.axis).labels
    known = encode(labels[:, 5:5 + p.m], 6)
    for kind, kept in ((mk.FORWARD, slice(0, p.n_cond)), (mk.BACKWARD, slice(p.m - p.n_cond,
                                                                              p.m))):
        flags = mk.indicators(np.full(len(known), kind), p.m, p.n_cond)
        out = mk.denoise_window(net, mk.sampler(p), known, flags, torch.full((len(known),), 5),
                                p.depth, torch_generator(0))
        assert torch.equal(out[:, kept], known[:, kept])
        free = torch.ones(p.m, dtype=bool)
        free[kept] = False
        assert not torch.equal(out[:, free], known[:, free])  # the others are generated
        assert out.abs().max() <= 1.0


def _changes(volume: torch.Tensor) -> np.ndarray:
    """Fraction of pixels whose label changes from slice k to k + 1, for every k."""
    return (volume[1:] != volume[:-1]).float().mean((1, 2)).numpy()


def _borders(windows: list[mk.Window], m: int, n: int) -> set[int]:
    """Transitions k -> k + 1 between a window's conditioning and its generated slices."""
    out = set()
    for w in windows:
        if w.kind == mk.FORWARD:
            out.add(w.start + n - 1)
        elif w.kind == mk.BACKWARD:
            out.add(w.start + m - n - 1)
    return out


class Drifting(mk.MCDPM):
    """A stand-in denoiser that has learnt perfect continuity: each generated slice is the
    nearest conditioning slice shifted by a pixel every two slices (anatomy drifting along the
    sequence), and an unconditional window drifts from a real slice chosen by its position
    (another anatomy at every position, as a model would invent). Its noise prediction
    makes DDPM land exactly on that target, so what is left to test is the inference plumbing:
    the plan, the indicators, the known slices and the write-back."""

    def __init__(self, p, patterns: torch.Tensor, use_indicators: bool = True):
        super().__init__(p, 6)
        self.patterns, self.use_indicators = patterns, use_indicators
        self.alphas = mk.trainer(p).alphas_cumprod

    def target(self, known: torch.Tensor, flags: torch.Tensor, position: torch.Tensor
               ) -> torch.Tensor:
        out = torch.empty_like(known)
        for b in range(len(known)):
            cond = torch.nonzero(flags[b]).flatten().tolist() if self.use_indicators else []
            for j in range(self.m):
                if j in cond:
                    out[b, j] = known[b, j]
                elif cond:
                    nearest = min(cond, key=lambda c: abs(c - j))
                    out[b, j] = torch.roll(known[b, nearest], int((j - nearest) / 2), dims=-1)
                else:
                    pattern = self.patterns[int(position[b]) % len(self.patterns)]
                    out[b, j] = torch.roll(pattern, j // 2, dims=-1)
        return out

    def forward(self, noisy, known, indicator, t, position):
        a = self.alphas[t][:, None, None, None]
        target = self.target(known, indicator, position)
        return (noisy - a.sqrt() * target) / (1 - a).sqrt()


def _border_and_inside(volumes, plans, p) -> tuple[float, float]:
    border, inside = [], []
    for volume, windows in zip(volumes, plans, strict=True):
        changes, borders = _changes(volume), _borders(windows, p.m, p.n_cond)
        assert borders, "every volume needs more than one window"
        border += [changes[k] for k in borders]
        inside += [c for k, c in enumerate(changes) if k not in borders]
    return float(np.mean(border)), float(np.mean(inside))


BORDER_TOLERANCE = 0.05  # of the pixels of a slice


def test_autoregressive_generation_is_continuous_across_window_borders(phantom):
    p = TINY
    labels = volume_bank(phantom, p.depth, p.size, p.axis).labels
    patterns = encode(torch.stack([labels[k % 3, 4 + k] for k in range(p.position_bins)]), 6)
    for first_seed in range(3):
        volumes, plans = mk.generate(Drifting(p, patterns).eval(), mk.sampler(p), 4, p.depth,
                                     p.size, p, "cpu", np.random.default_rng(first_seed),
                                     torch_generator(first_seed))
        border, inside = _border_and_inside(volumes, plans, p)
        assert inside > 0.05  # slices do change inside windows
        assert border <= inside + BORDER_TOLERANCE, (border, inside)
    # the same denoiser told nothing about the conditioning slices restarts at every border
    volumes, plans = mk.generate(Drifting(p, patterns, use_indicators=False).eval(),
                                 mk.sampler(p), 4, p.depth, p.size, p, "cpu",
                                 np.random.default_rng(0), torch_generator(0))
    border, inside = _border_and_inside(volumes, plans, p)
    assert border > inside + BORDER_TOLERANCE, (border, inside)


@pytest.mark.slow
def test_a_trained_mc_dpm_is_continuous_across_window_borders(phantom, tmp_path):
    """The same property for a real MC-DPM trained for 3000 steps (about 3 minutes on CPU)."""
    p = TINY.model_copy(update={"mask_steps": 3000, "mask_batch": 8, "mask_lr": 1e-3,
                                "mask_channels": (32, 64), "train_timesteps": 100,
                                "checkpoint_every": 1000})
    bank = volume_bank(phantom, p.depth, p.size, p.axis)
    torch.manual_seed(0)
    net = mk.MCDPM(p, bank.n_labels)
    mk.train_masks(net, bank, p, FitContext(workdir=tmp_path, seed=0))
    volumes, plans = mk.generate(net.eval(), mk.sampler(p), 6, p.depth, p.size, p, "cpu",
                                 np.random.default_rng(1), torch_generator(1))
    border, inside = _border_and_inside(volumes, plans, p)
    assert border <= inside + BORDER_TOLERANCE, (border, inside)


# sequence generator and refiner -----------------------------------------------------------------
def test_first_slice_is_hallucinated_and_later_ones_blend_the_warped_previous():
    torch.manual_seed(0)
    gen = SequenceGenerator(3, 2, TINY).eval()
    masks = one_hot(torch.randint(0, 3, (2, 3, 16, 16)), 3)  # (B, K, T, H, W)
    first = gen.step(masks[:, :, 0], None, None)
    assert (first["weight"] == 0).all() and torch.equal(first["image"], first["hallucinated"])
    second = gen.step(masks[:, :, 1], masks[:, :, 0], first["image"])
    warped = gen.warp(first["image"], second["flow"])
    expected = second["weight"] * warped + (1 - second["weight"]) * second["hallucinated"]
    torch.testing.assert_close(second["image"], expected)
    assert gen(masks).shape == (2, 2, 3, 16, 16)


def test_refiner_slices_round_trip_for_every_view():
    volumes = torch.randn(2, 3, 4, 6, 8)
    for view in rf.VIEWS:
        flat = rf.slices(volumes, view)
        assert flat.shape[0] == 2 * volumes.shape[2 + view]
        assert torch.equal(rf.assemble(flat, 2, view), volumes)


# the generator --------------------------------------------------------------------------------
def test_fit_and_sample_volumes_on_the_phantom(fitted, lesion_phantom):
    cases = fitted.sample(3, SampleContext(seed=0))
    assert cases.spatial_dims == 3 and cases.channels == ["T1", "FLAIR"]
    for case in cases:
        assert case.image.shape == (2, *lesion_phantom[0].spatial_shape)
        assert case.label.shape == lesion_phantom[0].spatial_shape
        assert set(np.unique(case.label)) <= set(lesion_phantom.labels)
        assert np.isfinite(case.image).all() and 0 <= case.image.min() <= case.image.max() <= 1
    for stage in ("masks", "sequence", "refiner0", "refiner1", "refiner2"):
        assert len(fitted.curves[stage]) == fitted.state.steps[stage]


def test_refiner_changes_the_images_but_not_the_masks(fitted, lesion_phantom):
    maps = lesion_phantom.subset([0])
    refined = fitted.images_for(maps, SampleContext(seed=0), refine=True)
    plain = fitted.images_for(maps, SampleContext(seed=0), refine=False)
    assert np.array_equal(refined[0].label, maps[0].label)
    assert refined[0].image.shape == maps[0].image.shape
    assert not np.allclose(refined[0].image, plain[0].image)
    t1 = fitted.images_for(maps, SampleContext(seed=0, channels=["T1"]))
    assert t1.channels == ["T1"] and t1[0].image.shape[0] == 1


def test_saved_generator_keeps_its_training_curves(fitted, tmp_path):
    """Save → load → same samples and seeds: tests/run/test_builtin_conformance.py."""
    fitted.save(tmp_path / "model")
    assert (tmp_path / "model" / "curve_masks.csv").exists()


def test_bad_use_is_a_clear_error(fitted, phantom):
    with pytest.raises(ConfigError, match="fitted"):
        tiny().sample(1, SampleContext(seed=0))
    with pytest.raises(ConfigError, match="lesion"):
        fitted.sample(1, SampleContext(seed=0, lesion_ratio=0.5))
    with pytest.raises(DataError, match="channel"):
        fitted.sample(1, SampleContext(seed=0, channels=["T2"]))
    slices = extract_slices(phantom, axis=2, size=(16, 16)).cases
    with pytest.raises(DataError, match="3D"):
        tiny().fit(slices, FitContext(workdir=None, seed=0))
    with pytest.raises(ConfigError, match="n_cond"):
        build_generator(GeneratorSpec(name="medgen3d", preset="tiny", params={"n_cond": 4}))


def test_cli_fit_sample_data_check_and_a_3d_segmenter_trains_on_the_samples(capsys, phantom3_dir,
                                                                             tmp_path):
    folder, out = tmp_path / "g", tmp_path / "samples"
    fit = call_cli(capsys, "generator", "fit", "medgen3d", "--data", str(phantom3_dir),
                   "--preset", "tiny", "--out", str(folder), "--device", "cpu")
    assert fit.returncode == 0, fit.stderr
    sample = call_cli(capsys, "generator", "sample", str(folder), "-n", "2", "--out", str(out),
                      "--device", "cpu")
    assert sample.returncode == 0, sample.stderr
    check = call_cli(capsys, "data", "check", str(out))
    assert check.returncode == 0 and "2 cases" in check.stdout, check.stdout + check.stderr
    train = call_cli(capsys, "train", "--data", str(phantom3_dir), "--segmenter", "unet3d",
                     "--preset", "tiny", "--strategy", "synthetic", "--synthetic", str(out),
                     "--out", str(tmp_path / "seg"), "--set", "steps=2")
    assert train.returncode == 0, train.stderr
    assert (tmp_path / "seg" / "metrics.csv").exists()
