"""Fidelity metrics: distances against NumPy/SciPy, extractors from weight files, the judge.

Nothing here downloads: Inception and AlexNet weight files are written from randomly initialised
networks, and the judge is given small random extractors where the real ones need weights.
"""

from __future__ import annotations

import dataclasses

import lpips
import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from torch import nn

from bench.api.case import CaseSet
from bench.api.segmenter import TrainContext
from bench.api.slices import extract_slices
from bench.api.strategies import Stage
from bench.fidelity.catalogue import FidelityOptions, metric_names
from bench.fidelity.judge import FidelityJudge
from bench.fidelity.reference import Reference
from bench.run.experiment import build_segmenter
from metrics.distribution import (
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)
from metrics.diversity import ALEXNET_FILE, MSSSIM, LPIPSDistance, mean_pairwise, random_pairs
from metrics.features import (
    INCEPTION_FILE,
    EncoderFeatures,
    InceptionFeatures,
    MedicalNetFeatures,
    RadImageNetFeatures,
    Unavailable,
    extract,
)
from metrics.label_shares import label_shares, share_error
from metrics.medicalnet import MedicalNetResNet10, load_medicalnet
from metrics.memorisation import memorisation, thumbnails
from metrics.segmentation import evaluate
from tests.conftest import pin_weights


def _features(seed: int, n: int = 300, d: int = 6, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + shift  # correlated features


def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def _numpy_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with k(x, y) = (x·y / d + 1)³ (Bińkowski et al. 2018)."""
    def k(x, y):
        return (x @ y.T / a.shape[1] + 1.0) ** 3

    m, n = len(a), len(b)
    kxx, kyy = k(a, a), k(b, b)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * k(a, b).mean())


# distances ------------------------------------------------------------------------------------
def test_frechet_distance_matches_scipy():
    a, b = _features(0), _features(1, n=250, shift=0.3)
    assert frechet_distance(a, b) == pytest.approx(_scipy_frechet(a, b), rel=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_of_a_shift_its_square():
    a = _features(0)
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0])
    assert abs(frechet_distance(a, a)) < 1e-8
    assert frechet_distance(a, a + shift) == pytest.approx((shift ** 2).sum(), rel=1e-6)


def test_kernel_distance_matches_numpy_and_is_seeded():
    a, b = _features(0, n=200), _features(1, n=200, shift=0.2)
    mean, sd = kernel_distance(a, b, subsets=1, subset_size=200)
    assert mean == pytest.approx(_numpy_kid(a, b), rel=1e-6) and np.isnan(sd)
    # a set against itself: the unbiased estimate is (mean off-diagonal k - mean k(x, x)) * 2/m,
    # never above zero for a positive definite kernel
    same = kernel_distance(a, a, subsets=1)[0]
    assert same == pytest.approx(_numpy_kid(a, a), rel=1e-6) and same <= 0
    assert kernel_distance(a, b, subsets=5, subset_size=50, seed=3) == \
        kernel_distance(a, b, subsets=5, subset_size=50, seed=3)
    # sets of one size within subset_size: each subset is the whole of both, one is exact
    mean, sd = kernel_distance(a, b)
    assert mean == pytest.approx(_numpy_kid(a, b), rel=1e-6) and np.isnan(sd)


def test_kid_sd_is_nan_from_one_subset():
    """One subset has no spread to measure: its sd is missing, not 0.0 (which reads as "no
    doubt"); several subsets give a positive sd."""
    a, b = _features(0, n=200), _features(1, n=200, shift=0.2)
    assert np.isnan(kernel_distance(a, b, subsets=1, subset_size=50)[1])
    assert np.isnan(kernel_distance(a, b)[1])  # one subset covering both sets: exact
    assert kernel_distance(a, b, subsets=5, subset_size=50, seed=3)[1] > 0


def test_distances_refuse_mismatched_or_too_few_features():
    with pytest.raises(ValueError, match="equal D"):
        frechet_distance(_features(0, d=6), _features(1, d=5))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(_features(0), _features(1, n=1))


# extractors -----------------------------------------------------------------------------------
def test_encoder_features_are_the_pooled_bottleneck():
    torch.manual_seed(0)
    net = UNet(2, 1, 3, channels=(8, 16, 32), strides=(2, 2), num_res_units=1)
    encoder = EncoderFeatures(net, (32, 32))
    images = torch.rand(4, 1, 40, 40)
    features = encoder(images)
    assert features.shape == (4, 32)  # the deepest level's channels, resized input
    assert torch.equal(features, encoder(images))
    assert not torch.allclose(features[0], features[1])


def test_inception_features_come_from_a_weights_file_without_download(tmp_path, monkeypatch):
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    with monkeypatch.context() as m:  # a randomly initialised network, saved as the weights
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        random_net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(random_net.state_dict(), tmp_path / INCEPTION_FILE)
    pin_weights(monkeypatch, "inception", tmp_path / INCEPTION_FILE)
    monkeypatch.setattr(fe, "load_state_dict_from_url", no_download)
    inception = InceptionFeatures.find(tmp_path)
    assert torch.equal(inception.net.Mixed_7c.branch1x1.conv.weight,
                       random_net.Mixed_7c.branch1x1.conv.weight)
    images = np.random.default_rng(0).random((3, 1, 48, 40)).astype(np.float32)
    features = extract(inception, images)
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    with pytest.raises(ValueError, match="one grey channel"):
        inception(torch.rand(2, 3, 32, 32))


def test_missing_weights_say_which_file_and_where(tmp_path):
    with pytest.raises(Unavailable, match=f"{INCEPTION_FILE} not found in {tmp_path}"):
        InceptionFeatures.find(tmp_path)
    with pytest.raises(Unavailable, match=f"{ALEXNET_FILE} not found .*--weights-dir"):
        LPIPSDistance.find(tmp_path)


def test_lpips_loads_the_alexnet_trunk_from_torchvision_names(tmp_path, monkeypatch):
    from torchvision.models import alexnet

    torch.manual_seed(0)
    state = alexnet(weights=None).state_dict()
    torch.save(state, tmp_path / ALEXNET_FILE)
    pin_weights(monkeypatch, "alexnet", tmp_path / ALEXNET_FILE)
    distance = LPIPSDistance.find(tmp_path)
    trunk = distance.model.net
    assert torch.equal(trunk.slice1[0].weight, state["features.0.weight"])
    assert torch.equal(getattr(trunk.slice5, "10").bias, state["features.10.bias"])
    images = torch.rand(2, 1, 64, 64)
    same = distance(images, images)
    other = distance(images, torch.rand(2, 1, 64, 64))
    assert same.abs().max() < 1e-6 and (other > 0.01).all()


def test_ms_ssim_uses_the_scales_the_size_allows():
    assert MSSSIM((64, 64)).scales == 3 and MSSSIM((256, 256)).scales == 5
    images = torch.rand(3, 1, 64, 64)
    assert MSSSIM((64, 64))(images, images).flatten().tolist() == pytest.approx([1.0] * 3)


def test_ms_ssim_works_for_image_sides_12_to_20():
    """MONAI checks only size // (scales - 1)² > kernel - 1, which let two scales through for
    sides 11-21, whose second scale (side // 2 < 11) is smaller than the 11-pixel window:
    a RuntimeError from the convolution. Every scale must hold the window: one scale there."""
    for side in (11, 12, 16, 20, 21):
        measure = MSSSIM((side, side))
        assert measure.scales == 1 and measure.kernel == 11
        images = torch.rand(2, 1, side, side, generator=torch.Generator().manual_seed(side))
        assert measure(images, images).flatten().tolist() == pytest.approx([1.0, 1.0])
    for side in (8, 22, 43, 44, 99, 175, 176):  # each scale at least the window (or side - 1)
        measure = MSSSIM((side, side))
        assert side // 2 ** (measure.scales - 1) >= measure.kernel
        images = torch.rand(2, 1, side, side, generator=torch.Generator().manual_seed(side))
        assert measure(images, images).flatten().tolist() == pytest.approx([1.0, 1.0])
    assert [MSSSIM((s, s)).scales for s in (22, 44, 99, 176)] == [2, 3, 4, 5]


def test_random_pairs_never_pair_a_group_with_itself():
    groups = np.repeat(np.arange(4), 5)
    pairs = random_pairs(20, 50, seed=0, groups=groups)
    assert len(pairs) == 50 and (groups[pairs[:, 0]] != groups[pairs[:, 1]]).all()
    assert (pairs[:, 0] < pairs[:, 1]).all() and len({tuple(p) for p in pairs}) == 50
    with pytest.raises(ValueError, match="different cases"):
        random_pairs(3, 5, seed=0, groups=np.zeros(3))
    values = np.ones((6, 1, 8, 8), np.float32)
    assert mean_pairwise(lambda a, b: (a - b).abs().mean((1, 2, 3)), values,
                         random_pairs(6, 10, 0)) == 0.0


def test_memorisation_flags_verbatim_copies_and_not_new_samples():
    rng = np.random.default_rng(0)
    train = thumbnails(rng.random((40, 1, 48, 48)))
    new = thumbnails(rng.random((30, 1, 48, 48)))
    copies = memorisation(train, new[:15], train[:10])
    assert copies.near_copies == 1.0 and copies.median_ratio == pytest.approx(0.0, abs=1e-6)
    fresh = memorisation(train, new[:15], new[15:])
    assert fresh.near_copies == 0.0 and fresh.median_ratio == pytest.approx(1.0, abs=0.1)


# the judge ------------------------------------------------------------------------------------
class RandomFeatures(nn.Module):
    """A stand-in for Inception in tests: a fixed random convolution, globally pooled."""

    name, per_channel, spatial_dims = "inception", True, 2
    label, sha256, preprocessing = "random convolution", None, "none"

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 16, 5, stride=2)

    @torch.no_grad()
    def forward(self, images):
        return torch.relu(self.conv(images)).mean((2, 3))


def _random_lpips() -> LPIPSDistance:
    torch.manual_seed(0)
    return LPIPSDistance(lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False))


@pytest.fixture(scope="module")
def reference(phantom, tmp_path_factory):
    """A real-only unet2d:tiny trained on the first two phantom subjects."""
    segmenter = build_segmenter("unet2d", "tiny")
    real = phantom.subset([0, 1])
    ctx = TrainContext(workdir=tmp_path_factory.mktemp("reference"), data={"real": real})
    segmenter.train([Stage("real")], ctx)
    return Reference(segmenter, segmenter.load(ctx.workdir), "unet2d:tiny")


@pytest.fixture(scope="module")
def judge(phantom, reference):
    return FidelityJudge(phantom.subset([0, 1]), phantom.subset([2]), FidelityOptions(pairs=30),
                         reference, inception=RandomFeatures(), lpips=_random_lpips())


def _values(rows) -> dict:
    return {r.metric: r.value for r in rows}


def _distorted(cases: CaseSet, seed: int) -> CaseSet:
    rng = np.random.default_rng(seed)
    out = [dataclasses.replace(c, image=(c.image ** 1.5 + rng.normal(0, 0.2, c.image.shape))
                               .astype(np.float32)) for c in cases]
    return cases.replace(out)


def test_judge_identical_set_gives_zero_distances_and_full_memorisation(phantom, judge):
    rows = judge.measure(phantom.subset([0, 1]), [2])[2]
    assert [r.metric for r in rows] == metric_names()
    values = _values(rows)
    for tag in ("inception", "indomain"):  # the same images: inside each other's manifold
        for metric in ("precision", "recall", "coverage"):
            assert values[f"{metric}_{tag}"] == 1.0, (metric, tag)
    for metric in ("fid", "fd_indomain"):
        assert abs(values[metric]) < 1e-6, metric
    for metric in ("kid", "kid_indomain"):  # unbiased: slightly below zero for one set twice
        assert values[metric] <= 1e-9, metric
    assert values["memorisation"] == 1.0 and values["nn_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert values["lpips"] == pytest.approx(values["lpips_real"])
    assert values["ms_ssim"] == pytest.approx(values["ms_ssim_real"])
    notes = {r.metric: r.note for r in rows}
    assert "axial" in notes["fid"] and "sagittal" in notes["fid"]  # three views of volumes


def test_judge_distorted_and_new_sets_are_further_and_not_copies(phantom, judge):
    same = _values(judge.measure(phantom.subset([0, 1]), [2])[2])
    distorted = _values(judge.measure(_distorted(phantom.subset([0, 1]), 0), [2])[2])
    new = _values(judge.measure(phantom.subset([2]), [1])[1])
    for metric in ("fid", "fd_indomain", "kid", "kid_indomain"):
        assert distorted[metric] > same[metric] + 1e-6, metric
    for metric in ("fid", "fd_indomain"):  # another subject of the same phantom: near, not 0
        assert new[metric] > same[metric] + 1e-6, metric
    assert new["memorisation"] == 0.0 and new["nn_ratio"] > 0.5


def test_alignment_of_real_cases_is_the_segmenters_own_dice(phantom, judge, reference):
    heldout = phantom.subset([2])
    table = evaluate(heldout, reference.predict(heldout), hd95=False)
    own = table[table.metric == "dice"].groupby("case").value.mean().mean()
    assert judge.alignment(heldout).value == pytest.approx(own)
    shuffled = heldout.replace([dataclasses.replace(heldout[0], label=np.flip(heldout[0].label,
                                                                              axis=0).copy())])
    assert judge.alignment(shuffled).value < own  # masks that do not fit the image


def test_real_alignment_is_measured_in_the_samples_unit(phantom, judge, reference):
    """2D samples' alignment is a mean over slices; its real ceiling must be too, not the
    per-volume Dice (brainspade-3.1-cpu: 0.63 per held-out slice against 0.77 per volume)."""
    heldout = phantom.subset([2])
    slices = extract_slices(heldout, axis=2, min_foreground=0.1).cases
    per_slice = judge.alignment(slices).value
    per_volume = judge.alignment(heldout).value
    assert per_slice != pytest.approx(per_volume)  # so the rows below say which unit was used
    flat = extract_slices(phantom.subset([0]), axis=2, size=(48, 48), min_foreground=0.1).cases
    rows = {r.metric: r for r in judge.measure(flat, [4])[4]}
    real = rows["alignment_dice_real"]
    assert real.value == pytest.approx(per_slice) and "axial slices" in real.note
    rows = {r.metric: r for r in judge.measure(phantom.subset([0]), [1])[1]}
    assert rows["alignment_dice_real"].value == pytest.approx(per_volume)


def test_real_alignment_without_held_out_slices_is_a_note(phantom, reference):
    empty = phantom.subset([2])
    empty = empty.replace([dataclasses.replace(empty[0], label=np.zeros_like(empty[0].label))])
    judge = FidelityJudge(phantom.subset([0, 1]), empty, FidelityOptions(), reference)
    flat = extract_slices(phantom.subset([0]), axis=2, min_foreground=0.1).cases
    row = next(r for r in judge._alignments(flat) if r.metric == "alignment_dice_real")
    assert row.value is None and "no held-out real axial slices" in row.note


def test_judge_without_weights_marks_those_metrics_and_computes_the_rest(phantom, reference,
                                                                         tmp_path):
    judge = FidelityJudge(phantom.subset([0, 1]), phantom.subset([2]),
                          FidelityOptions(weights_dir=str(tmp_path), pairs=10), reference)
    rows = {r.metric: r for r in judge.measure(phantom, [3])[3]}
    for metric in ("fid", "kid", "lpips", "lpips_real"):
        assert rows[metric].value is None and "not found" in rows[metric].note
    assert INCEPTION_FILE in rows["fid"].note and ALEXNET_FILE in rows["lpips"].note
    for metric in ("fd_indomain", "ms_ssim", "alignment_dice", "memorisation"):
        assert rows[metric].value is not None, metric
    alone = FidelityJudge(phantom.subset([0, 1]), phantom.subset([2]),
                          FidelityOptions(weights_dir=str(tmp_path), pairs=10))
    rows = {r.metric: r for r in alone.measure(phantom.subset([2]), [1])[1]}
    assert rows["fd_indomain"].value is None and "strategy 'real'" in rows["fd_indomain"].note


def test_judge_compares_2d_samples_with_real_slices(phantom, judge):
    slices = extract_slices(phantom.subset([0]), axis=2, size=(48, 48), min_foreground=0.1).cases
    rows = judge.measure(slices, [len(slices)])[len(slices)]
    values, notes = _values(rows), {r.metric: r.note for r in rows}
    assert "2d" in notes["fid"] and "slices" in notes["memorisation"]
    assert values["memorisation"] > 0.9  # they are training slices, resized
    assert values["alignment_dice"] is not None and values["fd_indomain"] >= 0


class OracleReference:
    """A 2D real-only segmenter that predicts each case's own mask and records what it saw."""

    label, spatial_dims = "oracle", 2

    def __init__(self):
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, cases: CaseSet) -> list[np.ndarray]:
        self.shapes += [c.spatial_shape for c in cases]
        return [c.label for c in cases]


def test_2d_samples_are_judged_against_real_slices_along_the_slicing_axis(sagittal_slabs):
    """Data in 8 mm sagittal slabs is sliced along axis 0 by the generators and the 2D
    segmenters: its own slices along that axis are the real data itself (distance 0, every one
    a copy), and the held-out real alignment is measured on the same cut."""
    reference = OracleReference()
    judge = FidelityJudge(sagittal_slabs.subset([0, 1]), sagittal_slabs.subset([2]),
                          FidelityOptions(pairs=10, extractors=("inception",)), reference,
                          inception=RandomFeatures())
    own = extract_slices(sagittal_slabs.subset([0, 1]), axis=0, size=(48, 48),
                         min_foreground=0.1).cases
    rows = {r.metric: r for r in judge.measure(own, [len(own)])[len(own)]}
    assert "sagittal slices (axis 0)" in rows["fid"].views
    assert rows["fid"].value == pytest.approx(0.0, abs=1e-6), "compared with other real slices"
    assert rows["memorisation"].value == 1.0
    assert "sagittal slices" in rows["alignment_dice_real"].note
    held_out_slices = sagittal_slabs[2].spatial_shape[1:]
    assert set(reference.shapes) == {(48, 48), held_out_slices}, \
        "held-out real cases were not cut along the slicing axis"


# medical extractors, fetched from file:// ------------------------------------------------------
def test_radimagenet_features_are_fetched_verified_and_follow_the_official_input(tmp_path, hub,
                                                                                 monkeypatch):
    from torchvision.models import resnet50

    torch.manual_seed(0)
    trunk = nn.Sequential(*list(resnet50(weights=None).children())[:-2]).eval()
    path = tmp_path / "ResNet50.pt"  # the official release's layout: `backbone.<index>.*`
    torch.save({f"backbone.{k}": v for k, v in trunk.state_dict().items()}, path)
    weight = pin_weights(monkeypatch, "radimagenet", path)
    features = RadImageNetFeatures.find(None)
    assert (hub / weight.filename).is_file() and features.sha256 == weight.sha256
    images = torch.rand(2, 1, 40, 36)
    x = F.interpolate((2 * images - 1).repeat(1, 3, 1, 1), size=(224, 224), mode="bilinear",
                      align_corners=False)
    with torch.no_grad():
        expected = trunk(x).mean((2, 3))
    assert torch.allclose(features(images), expected, atol=1e-5)
    assert features(images).shape == (2, 2048)


def _medicalnet_checkpoint(path) -> dict:
    """A random MedicalNet ResNet-10 saved as Tencent's files are: DataParallel names."""
    torch.manual_seed(0)
    net = MedicalNetResNet10()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state}, path)
    return state


def test_medicalnet_features_pool_the_dilated_trunk_of_a_fetched_checkpoint(tmp_path, hub,
                                                                            monkeypatch):
    path = tmp_path / "resnet_10_23dataset.pth"
    state = _medicalnet_checkpoint(path)
    weight = pin_weights(monkeypatch, "medicalnet", path)
    features = MedicalNetFeatures.find(None)
    assert features.sha256 == weight.sha256
    assert torch.equal(features.net.layer4[0].conv1.weight, state["module.layer4.0.conv1.weight"])
    assert features.net.layer4[0].conv1.dilation == (4, 4, 4)  # MedicalNet's, not MONAI's stride
    volumes = torch.rand(2, 1, 32, 32, 32)
    assert features.net(volumes).shape == (2, 512, 4, 4, 4)
    out = features(volumes)
    assert out.shape == (2, 512) and not torch.allclose(out[0], out[1])
    assert torch.allclose(features(volumes * 3 + 1), out, atol=1e-4)  # z-scored per volume
    with pytest.raises(RuntimeError, match="Missing key"):
        load_medicalnet({"state_dict": {k: v for k, v in state.items() if "layer4" not in k}})


def test_precision_recall_density_coverage_separate_fidelity_from_coverage():
    real = _features(0, n=200)
    same = precision_recall_density_coverage(real, real, nearest_k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    collapsed = precision_recall_density_coverage(real, np.repeat(real[:1], 50, axis=0), 5)
    assert collapsed["precision"] == 1.0 and collapsed["coverage"] < 0.1  # real, not diverse
    far = precision_recall_density_coverage(real, real + 100.0, 5)
    assert far["precision"] == far["recall"] == far["density"] == far["coverage"] == 0.0
    with pytest.raises(ValueError, match="at least 7"):  # prdc itself fails on 6 (k + 1)
        precision_recall_density_coverage(real, real[:6], 5)
    assert precision_recall_density_coverage(real, real[:7], 5)["precision"] == 1.0


def test_floors_compare_two_halves_of_the_real_data_at_the_synthetic_n(phantom, judge):
    same = {r.metric: r for r in judge.measure(phantom.subset([0, 1]), [2])[2]}
    other = {r.metric: r for r in judge.measure(_distorted(phantom.subset([0, 1]), 0), [2])[2]}
    for metric in ("fid_floor", "kid_floor", "fd_indomain_floor", "kid_indomain_floor"):
        assert same[metric].value is not None and "two case-disjoint halves" in same[metric].note
        assert same[metric].value == other[metric].value  # real against real: samples unused
        assert same[metric].n_real == same[metric].n_fake
    fid = same["fid"]
    # per view, a half (one of the two training cases) holds as many images as the samples
    assert same["fid_floor"].n_real <= fid.n_fake and same["fid_floor"].n_real > 0
    assert same["fid_floor"].value > same["fid"].value  # other cases differ; the same set: 0


def test_distribution_rows_record_their_protocol(phantom, judge):
    rows = {r.metric: r for r in judge.measure(phantom.subset([2]), [1])[1]}
    fid = rows["fid"]
    assert fid.extractor == "random convolution" and "299" not in fid.preprocessing
    assert fid.views.startswith("2.5D: axial, coronal, sagittal")
    assert fid.n_fake > 0 and fid.n_real > 0
    indomain = rows["fd_indomain"]
    assert "real-only unet2d:tiny" in indomain.extractor and len(indomain.weights_sha256) == 64
    assert "axial" in indomain.views and "coronal" not in indomain.views
    assert rows["precision_inception"].note.startswith("k = 5")


def test_label_shares_catch_brain_painted_over_the_background(phantom, judge):
    """MedGen3D's demo once sampled volumes 95% brain (CSF where the background should be):
    images following their masks, so alignment did not see it. The label-share row does."""
    real = phantom.subset([0, 1])
    assert share_error(real, real) == 0.0
    # every slice of the volumes, resized: slices pool to their volumes' shares
    slices = extract_slices(real, axis=2, size=None, min_foreground=0.0).cases
    assert share_error(real, slices) == pytest.approx(0.0, abs=1e-9)
    flooded = real.replace([dataclasses.replace(c, label=np.where(c.label == 0, 1, c.label)
                                                .astype(c.label.dtype)) for c in real])
    values = _values(judge.measure(flooded, [2])[2])
    same = _values(judge.measure(real, [2])[2])
    assert same["label_share_error"] == 0.0
    assert values["label_share_error"] > 1.0  # CSF many times too frequent
    assert 0 < values["label_share_error_real"] < 0.2  # another subject of the same phantom
    shares = label_shares(real)
    assert sum(shares.values()) == pytest.approx(1.0) and set(shares) == set(real.labels) - {0}


def test_label_shares_count_values_above_the_largest_named_label():
    """A mask value the labels do not name (here 5, above the largest named 2) was cut off by
    ``bincount(...)[:3]``: it vanished from the foreground, and masks painting it everywhere
    had the real shares. It is counted: its share is reported and lowers the named ones."""
    from bench.api.case import Case, CaseSet

    def masks(*labels):
        cases = [Case(f"c{i}", np.zeros((1, 4, 4), np.float32), np.asarray(label, np.int16),
                      (1.0, 1.0)) for i, label in enumerate(labels)]
        return CaseSet(cases, {0: "background", 1: "a", 2: "b"}, ["t1"], 2)

    real = masks([[1, 1, 2, 0]] * 4)  # one 4 x 4 mask: a 8, b 4 pixels
    painted = masks([[1, 1, 2, 0]] * 2 + [[5, 5, 5, 5]] * 2)  # 8 of 14 foreground pixels: 5
    shares = label_shares(painted)
    assert shares == pytest.approx({1: 4 / 14, 2: 2 / 14, 5: 8 / 14})
    assert sum(shares.values()) == pytest.approx(1.0)
    # relative errors: a 2/3 -> 2/7, b 1/3 -> 1/7; both 4/7 off (before: 0, the 5s unseen)
    assert share_error(real, painted) == pytest.approx(4 / 7)


def test_label_shares_of_masks_without_foreground_are_an_error(phantom):
    empty = phantom.subset([0]).replace([dataclasses.replace(
        phantom[0], label=np.zeros_like(phantom[0].label))])
    with pytest.raises(ValueError, match="no labelled voxel"):
        share_error(phantom.subset([0]), empty)
