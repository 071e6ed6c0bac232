"""Quality checks: class fractions and contrast ordering against hand-computed values."""

import numpy as np
import pytest

from bench.api.case import Case, CaseSet
from bench.replicate.quality.common import (
    class_fraction_error,
    class_fractions,
    class_means,
    contrast_order,
)

LABELS = {0: "background", 1: "CSF", 2: "WM"}


def _set(*labels, images=None):
    cases = []
    for i, label in enumerate(labels):
        image = images[i] if images is not None else np.zeros((1, *label.shape), np.float32)
        cases.append(Case(f"c{i}", image, np.asarray(label, np.int16), (1.0, 1.0)))
    return CaseSet(cases, LABELS, ["T1"], 2)


def test_fractions_are_averaged_over_cases():
    real = _set(np.array([[1, 1], [2, 0]]), np.array([[2, 2], [2, 0]]))
    assert class_fractions(real) == {"CSF": pytest.approx(0.25), "WM": pytest.approx(0.5)}


def test_fraction_error_is_relative_per_label():
    real = _set(np.array([[1, 1], [2, 2]]))  # CSF 0.5, WM 0.5
    fake = _set(np.array([[1, 2], [2, 2]]))  # CSF 0.25, WM 0.75
    errors = class_fraction_error(real, fake)
    assert errors["CSF"] == pytest.approx(0.5) and errors["WM"] == pytest.approx(0.5)
    assert errors["mean"] == pytest.approx(0.5)
    assert class_fraction_error(real, real)["mean"] == 0.0


def test_contrast_order_follows_label_means():
    label = np.array([[1, 1], [2, 2]])
    image = np.array([[[0.1, 0.3], [0.9, 0.7]]], np.float32)
    means = class_means(_set(label, images=[image]))
    assert means == {"CSF": pytest.approx(0.2), "WM": pytest.approx(0.8)}
    assert contrast_order(means) == ["WM", "CSF"]


def test_slices_through_a_generator_grid_keep_shape_and_spacing_and_lose_detail(phantom):
    from bench.api.slices import extract_slices
    from bench.replicate.quality.grid import padded, through_grid

    slices = extract_slices(phantom.subset([0]), axis=2, min_foreground=0.1).cases
    coarse = through_grid(slices, (32, 32))
    assert [c.spatial_shape for c in coarse] == [c.spatial_shape for c in slices]
    assert np.allclose([c.spacing for c in coarse], [c.spacing for c in slices])
    lost = [np.abs(a.image - b.image).mean() for a, b in zip(slices, coarse, strict=True)]
    kept = [np.mean(a.label == b.label) for a, b in zip(slices, coarse, strict=True)]
    assert min(lost) > 0 and 0.7 < np.mean(kept) < 1.0  # blurred, same anatomy
    shapes = {c.spatial_shape for cases in padded(slices, coarse) for c in cases}
    assert len(shapes) == 1 and all(n % 16 == 0 for n in shapes.pop())


def test_stylegan2_quality_can_judge_b_sg_alone(tmp_path):
    """A B-SG setting (its collapse at 1 500 steps) is tried without refitting MC-SG: only
    B-SG's rows are written, next to the real held-out ceiling."""
    from bench.replicate.quality import stylegan2

    out = stylegan2.main(["--preset", "tiny", "--only", "b-sg", "--data", "phantom:A:4:4.0",
                          "--samples", "8", "--segmenter-steps", "2", "--device", "cpu",
                          "--out", str(tmp_path)])
    assert set(out["class_fraction_error"]) == {"b-sg"}
    assert set(out["alignment_dice"]) == {"real_heldout", "b-sg_samples"}
    assert set(out["timings"]) == {"b-sg_fit_s", "b-sg_sample_s"}
    assert not (tmp_path / "mc-sg").exists()
    assert (tmp_path / "quality.json").exists() and (tmp_path / "b-sg_samples.png").exists()
