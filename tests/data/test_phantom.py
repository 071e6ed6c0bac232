"""The embedded phantom: determinism, consistency, plausible anatomy and MR contrast."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bench.api.case import pv_consistent
from bench.data import phantom as ph
from bench.data.phantom import PhantomConfig, make_phantom

CSF, GM, WM, TUMOUR, OEDEMA = 1, 2, 3, 4, 5


def _mean(case, channel, value):
    return float(case.image[channel][case.label == value].mean())


def test_same_seed_gives_identical_subjects(tmp_path):
    config = PhantomConfig(subjects=2, seed=11)
    a = make_phantom(config, use_cache=False)
    b = make_phantom(config, use_cache=False)
    for x, y in zip(a, b, strict=True):
        assert x.id == y.id
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.pv, y.pv)


def test_subjects_differ_like_anatomy_does(phantom):
    a, b = phantom[0].label, phantom[1].label
    overlap = 2 * ((a == GM) & (b == GM)).sum() / ((a == GM).sum() + (b == GM).sum())
    assert 0.4 < overlap < 0.95, f"grey-matter Dice between subjects is {overlap:.3f}"
    assert phantom[0].meta["atrophy"] != phantom[1].meta["atrophy"]


def test_other_seed_gives_other_subjects():
    a = make_phantom(PhantomConfig(subjects=1, seed=1), use_cache=False)[0]
    b = make_phantom(PhantomConfig(subjects=1, seed=2), use_cache=False)[0]
    assert not np.array_equal(a.label, b.label)


def test_partial_volumes_sum_to_one_and_argmax_to_the_label(phantom, lesion_phantom):
    for case in [*phantom, *lesion_phantom]:
        assert pv_consistent(case.pv, case.label), case.id
        assert case.pv.min() >= 0.0


def test_tissue_fractions_are_anatomically_plausible(phantom):
    for case in phantom:
        brain = (case.label > 0).sum()
        fractions = {v: (case.label == v).sum() / brain for v in (CSF, GM, WM)}
        assert 0.03 < fractions[CSF] < 0.30, fractions
        assert 0.35 < fractions[GM] < 0.65, fractions
        assert 0.25 < fractions[WM] < 0.50, fractions
        litres = brain * np.prod(case.spacing) / 1e6
        assert 1.2 < litres < 2.2, f"intracranial volume {litres:.2f} L"


@pytest.mark.parametrize("site", ["A", "B"])
def test_t1_contrast_is_wm_over_gm_over_csf(site):
    case = make_phantom(PhantomConfig(subjects=1, site=site, seed=5), use_cache=False)[0]
    assert _mean(case, 0, WM) > _mean(case, 0, GM) > _mean(case, 0, CSF)


def test_flair_csf_is_darkest_tissue_and_lesions_brightest(lesion_phantom):
    flair = lesion_phantom.channels.index("FLAIR")
    for case in lesion_phantom:
        tissue = [_mean(case, flair, v) for v in (CSF, GM, WM)]
        assert tissue[0] == min(tissue)
        lesions = [_mean(case, flair, v) for v in (TUMOUR, OEDEMA) if (case.label == v).any()]
        assert lesions and min(lesions) > max(tissue), case.id


def test_lesions_exist_only_when_enabled(phantom, lesion_phantom):
    assert all(c.label.max() <= WM for c in phantom)
    assert lesion_phantom.labels[TUMOUR] == "tumour" and lesion_phantom.labels[OEDEMA] == "oedema"
    for case in lesion_phantom:
        assert (case.label == TUMOUR).sum() > 20, case.id
        assert case.meta["lesion"] is True


def test_tumour_pushes_tissue_away():
    """Mass effect: with a tumour, tissue label maps move away from where they were."""
    plain = make_phantom(PhantomConfig(subjects=1, seed=4, lesions=True,
                                       lesion_probability=0.0), use_cache=False)[0]
    tumour = make_phantom(PhantomConfig(subjects=1, seed=4, lesions=True), use_cache=False)[0]
    lesion = np.isin(tumour.label, (TUMOUR, OEDEMA))
    assert lesion.any() and not np.isin(plain.label, (TUMOUR, OEDEMA)).any()
    changed_outside = (plain.label != tumour.label) & ~lesion
    assert changed_outside.sum() > 50


def test_sites_image_the_same_anatomy_differently():
    a = make_phantom(PhantomConfig(subjects=1, site="A"), use_cache=False)
    c = make_phantom(PhantomConfig(subjects=1, site="C"), use_cache=False)
    assert a.channels == ["T1"] and c.channels == ["FLAIR"]
    assert a[0].meta["site"] == "A" and c[0].meta["site"] == "C"
    assert _mean(c[0], 0, CSF) < _mean(a[0], 0, CSF)


def test_resolution_is_configurable():
    case = make_phantom(PhantomConfig(subjects=1, resolution=3.0), use_cache=False)[0]
    assert case.spacing == (3.0, 3.0, 3.0)
    assert max(case.spatial_shape) < 70


def test_cached_subjects_are_read_back_not_rebuilt(monkeypatch, tmp_path):
    config = PhantomConfig(subjects=2, seed=21)
    first = make_phantom(config, cache_dir=tmp_path)

    def fail(*_args, **_kwargs):
        raise AssertionError("subject was rebuilt although it is cached")

    monkeypatch.setattr(ph, "make_subject", fail)
    second = make_phantom(config, cache_dir=tmp_path)
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.meta == y.meta


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    config = PhantomConfig(subjects=1, seed=22)
    first = make_phantom(config, cache_dir=tmp_path)
    (entry,) = (tmp_path / "phantom" / config.key()).glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    again = make_phantom(config, cache_dir=tmp_path)
    np.testing.assert_array_equal(first[0].image, again[0].image)


def test_unknown_channel_is_rejected():
    with pytest.raises(ValueError, match="channels"):
        PhantomConfig(channels=("T1", "PD"))


def test_a_subject_does_not_depend_on_the_number_of_threads():
    """The same config must give the same bytes on any machine: a run's data fingerprint, its
    fit keys and its numbers follow from them. A multi-threaded BLAS sums the template's
    least-squares fit in another order with more threads."""
    config = PhantomConfig(subjects=1, seed=0)
    subjects = []
    for threads in (1, 2):
        ph._template.cache_clear()
        with threadpool_limits(limits=threads, user_api="blas"):
            subjects.append(ph.make_subject(config, 0))
    ph._template.cache_clear()
    one, two = subjects
    assert np.array_equal(one.image, two.image)
    assert np.array_equal(one.pv, two.pv)
