"""Orientation, spacing and intensity as nnU-Net handles them (issue 34): cases read in RAS+,
resampled to the dataset's target spacing, sliced along its low-resolution axis, CT normalised
with the dataset's foreground statistics, and measured on the stored grid."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bench.api.case import Case, CaseSet
from bench.api.presets import from_preset
from bench.data import geometry, load_dataset, write_nnunet
from bench.data.normalisation import normalise_image, plan_normalisation
from bench.data.phantom import PhantomConfig, make_phantom
from tests.conftest import call_cli

FLIP_X = [[0, -1], [1, 1], [2, 1]]
FLIP_Y = [[0, 1], [1, -1], [2, 1]]
PERMUTE = [[2, 1], [0, 1], [1, 1]]
PERMUTE_FLIP = [[1, -1], [2, 1], [0, -1]]


def _reoriented(case: Case, ornt) -> Case:
    """``case`` (RAS+) stored in another voxel order, its affine saying so (what nibabel's
    ``as_reoriented`` gives): the same image in the world."""
    ornt = np.asarray(ornt, dtype=float)
    affine = geometry._affine(case) @ nib.orientations.inv_ornt_aff(ornt, case.spatial_shape)
    image = np.moveaxis(nib.orientations.apply_orientation(np.moveaxis(case.image, 0, -1), ornt),
                        -1, 0)
    label = nib.orientations.apply_orientation(case.label, ornt)
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    return Case(case.id, np.ascontiguousarray(image), np.ascontiguousarray(label), spacing,
                affine=affine, meta={})


def _with_spacing(case: Case, spacing, every_z: int = 1) -> Case:
    """``case`` declared at ``spacing`` (a header change), every ``every_z``-th axial slice."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = case.affine[:3, 3]
    return Case(case.id, case.image[..., ::every_z].copy(), case.label[..., ::every_z].copy(),
                tuple(spacing), affine=affine, meta={})


def test_canonical_orientation_is_exact_and_keeps_the_world(tmp_path):
    rng = np.random.default_rng(0)
    stored = Case("a", rng.random((2, 5, 6, 7), dtype=np.float32),
                  (rng.random((5, 6, 7)) > 0.5).astype(np.int16), (1.5, 1.0, 3.0),
                  affine=np.array([[0, 0, -3.0, 10], [1.5, 0, 0, -5], [0, -1, 0, 2],
                                   [0, 0, 0, 1]]))
    canonical = geometry.to_canonical(stored)
    assert geometry.axcodes(canonical.affine) == "RAS"
    assert canonical.meta["geometry"]["axcodes"] == "AIL"
    assert canonical.spacing == (3.0, 1.5, 1.0) and canonical.spatial_shape == (7, 5, 6)
    for voxel in [(0, 0, 0), (1, 2, 3), (4, 5, 6)]:  # each voxel keeps its place in the world
        world = stored.affine @ [*voxel, 1]
        there = np.round(np.linalg.inv(canonical.affine) @ world)[:3].astype(int)
        assert canonical.image[(slice(None), *there)].tolist() == \
            stored.image[(slice(None), *voxel)].tolist()
    back = geometry.to_stored(canonical)
    assert np.array_equal(back.image, stored.image) and np.array_equal(back.label, stored.label)
    assert np.allclose(back.affine, stored.affine) and back.spacing == stored.spacing
    assert np.array_equal(geometry.array_to_stored(canonical.label, canonical), stored.label)
    # written as it now is (RAS+) and read again, the case is stored in RAS+: the record of
    # its first file is dropped, not applied to the new one
    written = write_nnunet(CaseSet([canonical], {0: "bg", 1: "fg"}, ["a", "b"], 3),
                           tmp_path / "again")
    (again,) = load_dataset(written, cache=False)
    assert geometry.GEOMETRY not in again.meta
    assert geometry.to_stored(again) is again


@pytest.mark.parametrize("spacings, shapes", [
    ([(1.0, 1.0, 1.0), (1.2, 1.0, 0.9), (0.8, 1.1, 1.0)], [(100, 100, 90)] * 3),
    ([(0.7, 0.7, 5.0), (0.8, 0.8, 6.0), (0.6, 0.6, 3.0), (0.7, 0.7, 10.0)],
     [(256, 256, 20), (256, 256, 18), (256, 256, 40), (256, 256, 12)]),  # ACDC-like
    ([(5.0, 0.7, 0.7), (4.0, 0.7, 0.7), (1.2, 0.7, 0.7)], [(20, 256, 256)] * 3),
    ([(0.7, 0.7, 5.0)] * 3, [(64, 64, 40)] * 3),  # anisotropic spacing, not voxels: the median
])
def test_target_spacing_is_nnunets(spacings, shapes):
    """The same numbers as nnU-Net v2's own ``determine_fullres_target_spacing``."""
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import (
        ExperimentPlanner,
    )

    planner = SimpleNamespace(overwrite_target_spacing=None, anisotropy_threshold=3,
                              dataset_fingerprint={"spacings": spacings,
                                                   "shapes_after_crop": shapes})
    expected = ExperimentPlanner.determine_fullres_target_spacing(planner)
    assert np.allclose(geometry.target_spacing(spacings, shapes), expected, rtol=0, atol=1e-9)


def test_the_slicing_axis_is_the_low_resolution_one():
    assert geometry.slice_axis((0.7, 0.7, 5.0)) == 2
    assert geometry.slice_axis((5.0, 0.7, 0.7)) == 0
    assert geometry.slice_axis((0.9, 3.0, 0.9)) == 1
    assert geometry.slice_axis((2.0, 2.0, 2.0)) == 2  # isotropic: axial
    assert geometry.slice_axis((1.0, 1.0, 1.005)) == 2


def test_the_phantom_passes_through_unchanged():
    """Stored RAS+, isotropic, one spacing: nothing is reoriented, resampled or renormalised,
    so every published number stands."""
    cases = make_phantom(PhantomConfig(subjects=2, resolution=4.0))
    plan = geometry.plan(cases)
    assert plan.spacing == (4.0, 4.0, 4.0) and plan.slice_axis == 2
    applied = geometry.apply(cases, plan)
    assert all(a is c for a, c in zip(applied, cases, strict=True))
    for case in cases:
        assert geometry.to_canonical(case) is case
    norm = plan_normalisation(cases)
    assert [c["scheme"] for c in norm["channels"]] == ["zscore"]
    image = cases[0].image[0]
    inside = image[image > image.min()]
    expected = (image - inside.mean()) / (inside.std() + 1e-6)
    assert np.array_equal(normalise_image(cases[0].image, norm)[0], expected)


def test_resampling_is_nnunets_and_comes_back_to_the_stored_grid():
    case = _with_spacing(make_phantom(PhantomConfig(subjects=1, resolution=4.0))[0],
                         (4.0, 4.0, 16.0), every_z=4)
    case = dataclasses.replace(case, image=case.image.copy())
    resampled = geometry.resample(case, (4.0, 4.0, 4.0))
    assert resampled.spatial_shape == (*case.spatial_shape[:2], case.spatial_shape[2] * 4)
    assert resampled.spacing == (4.0, 4.0, 4.0)
    corner = resampled.affine @ [0, 0, 0, 1]  # the same extent: voxel centres shift by 1.5 mm
    assert np.allclose(corner[:3], case.affine[:3, 3] + [0, 0, -6.0])
    back = geometry.back_to_case(resampled.label, case, resampled.spacing)
    assert back.shape == case.spatial_shape
    assert (back == case.label).mean() > 0.99


def _write_sets(cases, folder, orientations=None):
    out = []
    for i, case in enumerate(cases):
        ornt = (orientations or {}).get(i)
        out.append(case if ornt is None else _reoriented(case, ornt))
    return write_nnunet(CaseSet(out, dict(cases.labels), list(cases.channels), 3), folder)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The same six subjects twice: stored RAS+, and with some cases flipped or with permuted
    axes; mixed spacings (one case declared at 4.4 mm across) and one anisotropic case (16 mm
    slices)."""
    base = make_phantom(PhantomConfig(subjects=6, resolution=4.0, seed=3))
    spacing = [(4.0, 4.0, 4.0), (4.0, 4.0, 4.0), (4.4, 4.0, 4.0), (4.0, 4.0, 4.0),
               (4.0, 4.0, 4.0), (4.0, 4.0, 16.0)]
    cases = [_with_spacing(c, s, every_z=4 if s[2] == 16.0 else 1)
             for c, s in zip(base, spacing, strict=True)]
    train = CaseSet(cases[:4], dict(base.labels), list(base.channels), 3)
    test = CaseSet(cases[4:], dict(base.labels), list(base.channels), 3)
    root = tmp_path_factory.mktemp("mixed")
    return {"canonical": (_write_sets(train, root / "ras_train"),
                          _write_sets(test, root / "ras_test")),
            "mixed": (_write_sets(train, root / "mixed_train",
                                  {1: FLIP_X, 2: PERMUTE, 3: PERMUTE_FLIP}),
                      _write_sets(test, root / "mixed_test", {0: FLIP_Y, 1: PERMUTE_FLIP})),
            "stored": {c.id: c for c in cases}}


def _train(capsys, train_dir, test_dir, out):
    result = call_cli(capsys, "train", "--data", str(train_dir), "--segmenter", "unet2d",
                      "--preset", "tiny", "--device", "cpu", "--out", str(out),
                      "--test-fraction", "0", "--val-fraction", "0.25",
                      "--test", f"held={test_dir}")
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out / "metrics.csv")


def test_mixed_orientations_train_to_the_same_dice_as_canonical(mixed, tmp_path, capsys,
                                                                 monkeypatch):
    """Training on the mixed-orientation copy gives the per-case Dice and HD95 of the canonical
    copy exactly (reorientation is exact); metrics are computed on the stored grids."""
    for name in ("mixed",):  # the copy really is stored otherwise
        raw = nib.load(str(mixed[name][1] / "imagesTr" / "phantomA_s3_005_0000.nii.gz"))
        assert "".join(nib.aff2axcodes(raw.affine)) != "RAS"
    import bench.run.experiment as experiment

    seen = []

    def recording(cases, predictions, *args, **kwargs):
        seen.extend((c.id, c.spatial_shape, p.shape, c.spacing)
                    for c, p in zip(cases, predictions, strict=True))
        return evaluate(cases, predictions, *args, **kwargs)

    evaluate = experiment.evaluate
    monkeypatch.setattr(experiment, "evaluate", recording)
    canonical = _train(capsys, *mixed["canonical"], tmp_path / "ras")
    reoriented = _train(capsys, *mixed["mixed"], tmp_path / "mixed")
    key = ["test_set", "case", "metric", "class"]
    joined = canonical.merge(reoriented, on=key, suffixes=("_ras", "_mixed"))
    assert len(joined) == len(canonical) == len(reoriented) > 0
    assert set(joined.metric) >= {"dice", "hd95"}
    assert np.allclose(joined.value_ras, joined.value_mixed, rtol=0, atol=1e-9, equal_nan=True)
    dice = joined[joined.metric == "dice"]
    assert dice.value_ras.max() > 0  # a model that segments something
    stored = {c.id: nib.load(str(next(mixed["mixed"][1].glob(f"imagesTr/{c.id}_0000.nii.gz"))))
              for c in mixed["stored"].values() if c.id in set(canonical.case)}
    for case_id, shape, predicted, spacing in seen[len(seen) // 2:]:  # the mixed run
        assert shape == predicted == stored[case_id].shape
        assert np.allclose(spacing, stored[case_id].header.get_zooms()[:3])
    model = json.loads((tmp_path / "mixed" / "model" / "model.json").read_text())
    assert model["slice_axis"] == 2


def test_data_check_reports_orientation_spacing_and_plan(mixed, capsys):
    result = call_cli(capsys, "data", "check", str(mixed["mixed"][0]))
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    warning = next(line for line in result.stdout.splitlines() if "mixed orientations" in line)
    assert len(warning.split("(")[1].split(")")[0].split(", ")) == 4  # four stored orders
    for text in ("orientations (as stored): RAS 1", "mixed orientations", "mixed spacings",
                 "spacing (mm, RAS+): min 4 x 4 x 4, median 4 x 4 x 4, max 4.4 x 4 x 4",
                 "target spacing 4 x 4 x 4 mm", "slicing axis 2"):
        assert text in out, out


def _ct(cases: CaseSet) -> CaseSet:
    """A CT-like copy of phantom cases: -1000 outside, up to +3000 inside, channel 'CT'."""
    out = []
    for case in cases:
        low, high = case.image.min(), case.image.max()
        image = (case.image - low) / (high - low) * 4000.0 - 1000.0
        out.append(dataclasses.replace(case, image=image.astype(np.float32), pv=None, meta={}))
    return CaseSet(out, dict(cases.labels), ["CT"], 3)


def test_ct_is_clipped_and_scaled_with_the_dataset_statistics():
    cases = _ct(make_phantom(PhantomConfig(subjects=2, resolution=4.0)))
    norm = plan_normalisation(cases)["channels"][0]
    assert norm["scheme"] == "CT"
    pooled = np.concatenate([
        np.random.RandomState(1234).choice(c.image[0][c.label > 0], 10000, replace=True)
        for c in cases])
    assert norm["percentile_00_5"] == pytest.approx(np.percentile(pooled, 0.5))
    assert norm["percentile_99_5"] == pytest.approx(np.percentile(pooled, 99.5))
    assert norm["mean"] == pytest.approx(pooled.mean())
    image = cases[0].image[0]
    expected = (np.clip(image, norm["percentile_00_5"], norm["percentile_99_5"]) - norm["mean"]
                ) / norm["std"]
    got = normalise_image(cases[0].image, {"channels": [norm]})[0]
    assert np.allclose(got, expected, atol=1e-5)
    assert got.min() == pytest.approx((norm["percentile_00_5"] - norm["mean"]) / norm["std"],
                                      abs=1e-5)  # the dataset's clip, not the case's minimum


def test_a_ct_run_normalises_as_ct_and_the_manifest_says_so(tmp_path):
    from bench.run.config import load_config
    from bench.run.runner import Runner
    from bench.run.store import STORE, Store

    folder = write_nnunet(_ct(make_phantom(PhantomConfig(subjects=3, resolution=4.0))),
                          tmp_path / "ct")
    assert load_dataset(folder)[0].image.min() == pytest.approx(-1000.0)
    config = load_config({"name": "ct", "dataset": str(folder),
                          "split": {"val": 0.34, "test": 0.34},
                          "segmenters": [{"name": "unet2d", "preset": "tiny",
                                          "params": {"steps": 2, "batch": 1, "val_every": 1}}],
                          "metrics": ["dice"], "device": "cpu", "fidelity": {"enabled": False}})
    Runner(config, tmp_path / "run").run()
    store = Store(tmp_path / "run" / STORE)
    try:
        manifest = store.manifest()
    finally:
        store.close()
    channel = manifest["normalisation"]["channels"][0]
    assert channel["channel"] == "CT" and channel["scheme"] == "CT"
    assert channel["percentile_00_5"] < channel["percentile_99_5"] <= 3000.0
    assert manifest["geometry"] == {"spacing": [4.0, 4.0, 4.0], "slice_axis": 2}
    (model,) = (tmp_path / "run" / "cells").glob("*/model/model.json")
    assert json.loads(model.read_text())["normalisation"]["channels"][0] == channel


def test_2d_models_slice_along_the_low_resolution_axis(tmp_path, monkeypatch):
    """Cases whose first axis is 3x coarser are cut into slices along it, in training and in
    prediction, and the model keeps the axis."""
    import segmenters.monai_models as monai_models
    from bench.api.segmenter import TrainContext
    from bench.api.strategies import parse_strategy

    cases = CaseSet([_with_spacing(c, (12.0, 4.0, 4.0)) for c in
                     make_phantom(PhantomConfig(subjects=2, resolution=4.0))],
                    {0: "background", 1: "csf", 2: "grey", 3: "white"}, ["T1"], 3)
    plan = geometry.plan(cases, "as-stored")
    assert plan.slice_axis == 0
    data = {"real": geometry.apply(cases.subset([0]), plan)}
    axes = []
    cut = monai_models.extract_slices

    def recording(cases, axis=2, *args, **kwargs):
        axes.append(axis)
        return cut(cases, axis, *args, **kwargs)

    monkeypatch.setattr(monai_models, "extract_slices", recording)
    segmenter = from_preset(monai_models.UNet2D, "tiny")
    segmenter.params = segmenter.params.model_copy(update={"steps": 1})
    model = segmenter.train(list(parse_strategy("real").stages),
                            TrainContext(workdir=tmp_path, data=data, device="cpu", seed=0))
    assert model.info["slice_axis"] == 0
    (predicted,) = segmenter.predict(model, geometry.apply(cases.subset([1]), plan))
    assert predicted.shape == cases[1].spatial_shape
    assert axes and set(axes) == {0}


@pytest.mark.parametrize("value", ["largest", [1.0, 2.0], [1.0, 0.0, 1.0],
                                   [1.0, float("inf"), 1.0]])
def test_a_bad_target_spacing_is_refused_naming_the_field(value):
    from bench.api.errors import ConfigError
    from bench.run.config import load_config

    with pytest.raises(ConfigError, match="target_spacing"):
        load_config({"name": "x", "target_spacing": value})


def test_target_spacing_keeps_earlier_config_keys_by_default():
    from bench.run.config import load_config

    default = load_config({"name": "x"})
    assert default.key() == load_config({"name": "x", "target_spacing": "median"}).key()
    assert default.key() != load_config({"name": "x", "target_spacing": [1, 1, 1]}).key()


def test_train_refuses_a_bad_target_spacing_in_one_line(phantom3_dir, tmp_path, capsys):
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out",
                      str(tmp_path / "run"), "--target-spacing", "1,2")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--target-spacing" in result.stderr


def test_phantom_metrics_are_those_of_the_path_before_geometry(tmp_path):
    """On the phantom, the experiment's new path (test cases brought to the plan, predictions
    brought back to the stored grid) scores exactly what predicting and scoring the test cases
    as they are did before."""
    from bench.api.strategies import parse_strategy
    from bench.run.experiment import Experiment, build_segmenter, run_experiment
    from metrics.segmentation import evaluate

    cases = make_phantom(PhantomConfig(subjects=3, resolution=4.0, seed=5))
    plan = geometry.plan(cases.subset([0, 1]))
    data = {"real": geometry.apply(cases.subset([0]), plan),
            "val": geometry.apply(cases.subset([1]), plan)}
    tests = {"t": cases.subset([2])}
    exp = Experiment("unet2d", parse_strategy("real"), "tiny", {"steps": 2}, device="cpu")
    table = run_experiment(exp, data, tests, tmp_path)
    segmenter = build_segmenter("unet2d", "tiny", {"steps": 2})
    before = evaluate(tests["t"], segmenter.predict(segmenter.load(tmp_path), tests["t"]), "t")
    assert table.value.notna().any()
    pd.testing.assert_frame_equal(table, before)


LPS = [[0, -1], [1, -1], [2, 1]]  # RAS+ stored with its first two axes flipped


@pytest.fixture(scope="module")
def lps_slabs(tmp_path_factory):
    """Two phantom subjects stored in LPS voxel order, in 16 mm axial slabs (4 mm in plane)."""
    base = make_phantom(PhantomConfig(subjects=2, resolution=4.0, seed=11))
    cases = [_reoriented(_with_spacing(c, (4.0, 4.0, 16.0), every_z=4), LPS) for c in base]
    assert geometry.axcodes(cases[0].affine) == "LPS"
    return write_nnunet(CaseSet(cases, dict(base.labels), list(base.channels), 3),
                        tmp_path_factory.mktemp("lps") / "lps")


def _assert_is_the_stored_label(written: Path, dataset: Path, case_id: str) -> None:
    stored = nib.load(str(dataset / "labelsTr" / f"{case_id}.nii.gz"))
    image = nib.load(str(dataset / "imagesTr" / f"{case_id}_0000.nii.gz"))
    found = nib.load(str(written))
    assert written.name == f"{case_id}.nii.gz"
    assert np.array_equal(found.affine, image.affine), "not the input's affine"
    assert found.shape == image.shape, "not the input's grid"
    assert np.array_equal(np.asarray(found.dataobj), np.asarray(stored.dataobj)), \
        "a perfect prediction differs from the reference"


def test_a_prediction_is_written_on_the_stored_grid_with_the_stored_affine(lps_slabs, tmp_path):
    """A perfect model's prediction of a case stored in LPS with 16 mm slabs, made on the run's
    4 mm RAS+ grid, brought back and written, is the stored label file again."""
    from bench.data.predictions import write_prediction

    cases = load_dataset(lps_slabs, cache=False)
    view = geometry.apply(cases, geometry.Plan((4.0, 4.0, 4.0), 2))
    assert view[0].spatial_shape[2] == 4 * cases[0].spatial_shape[2]  # resampled to predict
    back = geometry.back_to_case(view[0].label, cases[0], (4.0, 4.0, 4.0))
    written = write_prediction(tmp_path, cases[0], back, cases.labels)
    _assert_is_the_stored_label(written, lps_slabs, cases[0].id)


class Oracle:
    """A segmenter that predicts each case's own mask: a perfect model, without training."""

    name, spatial_dims = "oracle", 2

    def train(self, stages, ctx):
        from bench.api.segmenter import TrainedModel

        return TrainedModel(ctx.workdir)

    def predict(self, model, cases, device="cpu"):
        return [c.label for c in cases]


def test_train_writes_each_test_prediction_where_its_case_was_stored(lps_slabs, tmp_path,
                                                                     capsys, monkeypatch):
    import bench.run.experiment as experiment

    monkeypatch.setattr(experiment, "build_segmenter", lambda *args, **kwargs: Oracle())
    train = write_nnunet(make_phantom(PhantomConfig(subjects=3, resolution=4.0, seed=12)),
                         tmp_path / "train")
    result = call_cli(capsys, "train", "--data", str(train), "--out", str(tmp_path / "run"),
                      "--test-fraction", "0", "--val-fraction", "0.34", "--no-hd95",
                      "--test", f"held={lps_slabs}", "--predictions", str(tmp_path / "pred"))
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "pred" / "held").iterdir())
    assert [p.name for p in written] == sorted(f"{c}.nii.gz" for c in
                                               load_dataset(lps_slabs, cache=False).ids)
    for path in written:
        _assert_is_the_stored_label(path, lps_slabs, path.name.removesuffix(".nii.gz"))


def test_cases_used_as_stored_say_when_a_run_would_slice_or_resample_them(phantom,
                                                                          sagittal_slabs):
    """A stand-alone generator fit uses a dataset as stored: it warns where a run would cut
    along another axis, and is silent on data a run uses unchanged (the phantom)."""
    stored = sagittal_slabs.replace(list(sagittal_slabs))
    stored.meta.pop(geometry.PLAN, None)
    assert "low-resolution axis is 0" in geometry.unplanned(stored)
    assert geometry.unplanned(sagittal_slabs) is None  # planned: a run's own cases
    assert geometry.unplanned(phantom) is None
