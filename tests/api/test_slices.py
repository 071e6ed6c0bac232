import numpy as np
import pytest

from bench.api.case import Case, CaseSet
from bench.api.slices import extract_slices


def _volume_set():
    """Two 3D cases: slices k=0,1 empty, k=2.. foreground; lesion (label 2) only at k=5,6."""
    cases = []
    for i in range(2):
        label = np.zeros((16, 12, 8), np.uint8)
        label[2:14, 2:10, 2:] = 1
        label[5:9, 4:8, 5:7] = 2
        image = np.random.default_rng(i).random((1, 16, 12, 8)).astype(np.float32)
        cases.append(Case(f"v{i}", image, label, (1.0, 1.0, 2.0)))
    return CaseSet(cases, {0: "bg", 1: "brain", 2: "lesion"}, ["T1"], 3)


def test_min_foreground_drops_slices_with_too_little_label():
    view = extract_slices(_volume_set(), axis=2, min_foreground=0.1)
    assert len(view) == 2 * 6
    assert all((c.label > 0).mean() >= 0.1 for c in view.cases)
    assert view.cases.spatial_dims == 2
    assert view.cases[0].spacing == (1.0, 1.0)


def test_slices_remember_their_source():
    view = extract_slices(_volume_set(), axis=2, min_foreground=0.1)
    first = view.cases[0]
    assert first.meta["source"] == "v0" and first.meta["slice"] == 2


def test_lesion_fraction_is_met_by_subsampling_healthy_slices():
    view = extract_slices(_volume_set(), axis=2, min_foreground=0.1, lesion_labels=[2],
                                lesion_fraction=0.5, min_lesion_pixels=4)
    lesion = [bool((c.label == 2).sum() >= 4) for c in view.cases]
    assert sum(lesion) == 4  # all lesion slices kept
    assert len(lesion) == 8  # as many healthy ones


def test_lesion_balance_is_deterministic_by_seed():
    a = extract_slices(_volume_set(), lesion_labels=[2], lesion_fraction=0.25, seed=1).index
    b = extract_slices(_volume_set(), lesion_labels=[2], lesion_fraction=0.25, seed=1).index
    assert a == b


def test_assemble_restores_every_label_volume():
    cases = _volume_set()
    view = extract_slices(cases, axis=1, min_foreground=0.0)
    volumes = view.assemble([c.label for c in view.cases])
    for volume, case in zip(volumes, cases, strict=True):
        np.testing.assert_array_equal(volume, case.label)


def test_assemble_leaves_unselected_slices_background():
    cases = _volume_set()
    view = extract_slices(cases, axis=2, min_foreground=0.5)
    volumes = view.assemble([c.label for c in view.cases])
    assert volumes[0][..., :2].max() == 0
    np.testing.assert_array_equal(volumes[0][..., 2:], cases[0].label[..., 2:])


@pytest.mark.parametrize("fit", ["resize", "pad"])
def test_resized_slices_go_back_to_the_volume_grid(fit):
    cases = _volume_set()
    view = extract_slices(cases, axis=2, size=(32, 24) if fit == "resize" else (20, 20),
                        min_foreground=0.0, fit=fit)
    assert view.cases[0].image.shape[1:] == ((32, 24) if fit == "resize" else (20, 20))
    volumes = view.assemble([c.label for c in view.cases])
    agreement = (volumes[1] == cases[1].label).mean()
    assert agreement == 1.0 if fit == "pad" else agreement > 0.97


@pytest.mark.parametrize("size", [(96, 96), (64, 101), (81, 98)])
def test_pad_round_trip_is_exact_for_odd_size_differences(phantom, size):
    case = phantom.subset([0])
    view = extract_slices(case, axis=2, size=size, min_foreground=0.0, fit="pad")
    volume = view.assemble([c.label for c in view.cases])[0]
    kept = tuple(slice((n - min(n, m)) // 2, (n - min(n, m)) // 2 + min(n, m))
                 for n, m in zip(case[0].label.shape[:2], size, strict=True))
    np.testing.assert_array_equal(volume[kept], case[0].label[kept])


def test_assemble_resamples_scores_before_the_argmax(phantom):
    case = phantom.subset([0])
    view = extract_slices(case, axis=2, size=(96, 96), min_foreground=0.0)
    from_labels = view.assemble([c.label for c in view.cases])[0]
    from_scores = view.assemble([c.pv for c in view.cases])[0]
    truth = case[0].label
    assert (from_scores == truth).mean() > (from_labels == truth).mean()


def test_resize_keeps_partial_volumes_consistent(phantom):
    view = extract_slices(phantom.subset([0]), axis=2, size=(64, 64), min_foreground=0.1)
    for case in view.cases.cases[::10]:
        assert np.allclose(case.pv.sum(0), 1.0, atol=1e-4)
        np.testing.assert_array_equal(case.pv.argmax(0), case.label)


def test_slices_of_2d_sets_are_refused():
    view = extract_slices(_volume_set())
    with pytest.raises(ValueError, match="3D"):
        extract_slices(view.cases)
