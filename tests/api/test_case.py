import numpy as np
import pytest

from bench.api.case import Case, CaseSet, pv_consistent


def _case(case_id="c", shape=(4, 5, 6), channels=1):
    image = np.zeros((channels, *shape), np.float32)
    label = np.zeros(shape, np.uint8)
    label[1:3, 1:3, 1:3] = 1
    return Case(case_id, image, label, (1.0, 2.0, 3.0))


def test_label_must_match_image_spatial_shape():
    with pytest.raises(ValueError, match="label shape"):
        Case("c", np.zeros((1, 4, 5, 6), np.float32), np.zeros((4, 5, 7), np.uint8), (1, 1, 1))


def test_label_must_be_integer():
    with pytest.raises(ValueError, match="integer"):
        Case("c", np.zeros((1, 4, 4), np.float32), np.zeros((4, 4), np.float32), (1, 1))


def test_image_is_stored_as_float32():
    case = Case("c", np.zeros((1, 4, 4), np.float64), np.zeros((4, 4), np.uint8), (1, 1))
    assert case.image.dtype == np.float32


def test_caseset_rejects_a_case_with_other_channels():
    with pytest.raises(ValueError, match="channels"):
        CaseSet([_case(channels=2)], {0: "bg", 1: "fg"}, ["T1"], 3)


def test_caseset_needs_background_label():
    with pytest.raises(ValueError, match="background"):
        CaseSet([_case()], {1: "fg"}, ["T1"], 3)


def test_label_volumes_are_physical():
    cases = CaseSet([_case()], {0: "bg", 1: "fg"}, ["T1"], 3)
    assert cases.label_volumes()["c"]["fg"] == pytest.approx(8 * 6.0)


def test_subset_keeps_order_and_metadata():
    cases = CaseSet([_case("a"), _case("b"), _case("c")], {0: "bg", 1: "fg"}, ["T1"], 3)
    assert cases.subset([2, 0]).ids == ["c", "a"]


def test_pv_consistency_detects_argmax_disagreement():
    pv = np.array([[[0.7, 0.2]], [[0.3, 0.8]]], np.float32)
    assert pv_consistent(pv, np.array([[0, 1]]))
    assert not pv_consistent(pv, np.array([[1, 1]]))
