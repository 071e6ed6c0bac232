"""The on-disk dataset cache and cases that reference their arrays (bench.data.cache)."""

from __future__ import annotations

import gc
import pickle
import tracemalloc

import nibabel
import numpy as np
import pytest
from rich.console import Console

from bench.api.case import Case, CaseSet, Lazy, npy_ref
from bench.api.errors import DataError
from bench.data import load_dataset, write_nnunet
from bench.data.cache import cache_dir, dataset_key
from bench.data.leakage import check_no_leakage
from bench.data.summary import print_summary

LABELS = {0: "background", 1: "fg", 2: "core"}
SHAPE = (24, 28, 20)


def _synthetic(n: int, channels: int = 1, seed: int = 0, shape=SHAPE) -> CaseSet:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        image = rng.normal(100, 20, (channels, *shape)).astype(np.float32)
        label = np.zeros(shape, np.uint8)
        label[4:12, 5:15, 3:10] = 1
        label[6:9, 7:10, 4:6] = 2
        cases.append(Case(f"case{i:03d}", image, label, (1.0, 1.2, 1.5), meta={"site": "A"}))
    return CaseSet(cases, LABELS, [f"ch{c}" for c in range(channels)], 3)


def _no_nifti(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a NIfTI file was opened")
    monkeypatch.setattr(nibabel, "load", refuse)


def _assert_same(a: CaseSet, b: CaseSet) -> None:
    assert a.ids == b.ids and a.labels == b.labels and a.channels == b.channels
    assert a.spatial_dims == b.spatial_dims and a.meta == b.meta
    for x, y in zip(a, b, strict=True):
        assert x.image.dtype == y.image.dtype and x.label.dtype == y.label.dtype
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.label, y.label)
        assert (x.pv is None) == (y.pv is None)
        if x.pv is not None:
            np.testing.assert_array_equal(x.pv, y.pv)
        np.testing.assert_array_equal(x.affine, y.affine)
        assert x.spacing == y.spacing and x.meta == y.meta


def test_second_read_comes_from_the_cache_without_opening_nifti(phantom, tmp_path, monkeypatch):
    root = write_nnunet(phantom.subset([0, 1]), tmp_path / "ds")
    first = load_dataset(root)
    assert all(c.lazy for c in first)
    _no_nifti(monkeypatch)
    second = load_dataset(root)
    _assert_same(first, second)
    assert len(list(cache_dir().iterdir())) >= 1


def test_cached_cases_equal_the_in_memory_reader(phantom, lesion_phantom, tmp_path):
    for name, cases in {"pv": phantom.subset([0, 1]), "lesions": lesion_phantom}.items():
        root = write_nnunet(cases, tmp_path / name)
        in_ram = load_dataset(root, cache=False)
        assert not any(c.lazy for c in in_ram)
        _assert_same(in_ram, load_dataset(root))
        _assert_same(in_ram, load_dataset(root))  # and from a hit
    assert phantom[0].pv is not None  # the pv maps were compared


def test_2d_datasets_are_cached_as_2d(tmp_path):
    label = np.zeros((6, 5), np.uint8)
    label[2:4, 1:3] = 1
    cases = CaseSet([Case("s0", np.ones((2, 6, 5), np.float32), label, (1.0, 1.5))],
                    {0: "background", 1: "fg"}, ["T1", "FLAIR"], 2)
    root = write_nnunet(cases, tmp_path / "ds2d")
    _assert_same(load_dataset(root, cache=False), load_dataset(root))
    assert load_dataset(root)[0].ref("image").shape == (2, 6, 5)


def test_a_changed_source_file_invalidates_the_entry(tmp_path):
    cases = _synthetic(2)
    root = write_nnunet(cases, tmp_path / "ds")
    before = load_dataset(root)
    changed = cases[1].label.copy()
    changed[changed == 2] = 1  # same size on disk or nearly: the content differs
    nibabel.save(nibabel.Nifti1Image(changed, np.asarray(before[1].affine)),
                 str(root / "labelsTr" / "case001.nii.gz"))
    after = load_dataset(root)
    np.testing.assert_array_equal(after[1].label, changed)
    assert not np.array_equal(before[1].label, after[1].label)


def test_the_key_follows_content_and_options_not_the_clock(tmp_path):
    root = write_nnunet(_synthetic(1), tmp_path / "ds")
    key = dataset_key(root, {"labelled": True})
    assert dataset_key(root, {"labelled": True}) == key
    assert dataset_key(root, {"labelled": False}) != key
    (root / "labelsTr" / "case000.nii.gz").write_bytes(b"not what it was")
    assert dataset_key(root, {"labelled": True}) != key


def test_a_failed_read_leaves_no_entry(tmp_path):
    root = write_nnunet(_synthetic(3), tmp_path / "ds")
    (root / "imagesTr" / "case002_0000.nii.gz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(DataError, match="case002_0000"):
        load_dataset(root)
    key = dataset_key(root, {"labelled": True})
    assert not (cache_dir() / key).exists()
    assert not [p for p in cache_dir().iterdir() if p.name.endswith(".tmp")]


def test_lazy_cases_pickle_small_and_read_the_same_arrays(tmp_path):
    cases = load_dataset(write_nnunet(_synthetic(1, channels=2), tmp_path / "ds"))
    data = pickle.dumps(cases)
    assert len(data) < 4096  # references, not the 2 x 24 x 28 x 20 float32 voxels
    back = pickle.loads(data)
    np.testing.assert_array_equal(back[0].image, cases[0].image)


def test_a_reference_is_checked_without_being_read(tmp_path):
    def never(*args):
        raise AssertionError("read")

    image = Lazy((1, *SHAPE), np.float32, never)
    label = Lazy(SHAPE, np.uint8, never)
    case = Case("c", image, label, (1.0, 1.0, 1.0))
    CaseSet([case], LABELS, ["T1"], 3)
    assert case.spatial_shape == SHAPE and case.lazy
    with pytest.raises(ValueError, match="label shape"):
        Case("c", image, Lazy((2, 2, 2), np.uint8, never), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="float32"):
        Case("c", Lazy((1, *SHAPE), np.float64, never), None, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="channels"):
        CaseSet([case], LABELS, ["T1", "T2"], 3)


def test_a_reference_refuses_a_file_that_changed_shape(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((1, 2, 2, 2), np.float32))
    case = Case("c", npy_ref(path, (1, 2, 2, 2), np.float32), None, (1.0, 1.0, 1.0))
    np.save(path, np.zeros((1, 2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="read an array"):
        _ = case.image


def test_referenced_arrays_are_read_only_memory_maps(tmp_path):
    case = load_dataset(write_nnunet(_synthetic(1), tmp_path / "ds"))[0]
    image = case.image
    assert isinstance(image, np.memmap) and not image.flags.writeable


def _peak(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _walk(cases: CaseSet) -> None:
    """What `data check` and the leakage guard do with every case."""
    print_summary(cases, Console(file=open("/dev/null", "w")))  # noqa: SIM115
    check_no_leakage({"train": cases.subset(range(len(cases) // 2))},
                     {"test": cases.subset(range(len(cases) // 2, len(cases)))})


def test_memory_of_reading_and_walking_does_not_grow_with_the_number_of_cases(tmp_path):
    case_bytes = int(np.prod(SHAPE)) * (4 + 1)
    roots = {n: write_nnunet(_synthetic(n, seed=n), tmp_path / f"ds{n}") for n in (10, 40)}
    _walk(load_dataset(write_nnunet(_synthetic(2), tmp_path / "warm-up")))  # imports, caches
    cold = {n: _peak(lambda r=root: _walk(load_dataset(r))) for n, root in roots.items()}
    warm = {n: _peak(lambda r=root: _walk(load_dataset(r))) for n, root in roots.items()}
    old = {n: _peak(lambda r=root: load_dataset(r, cache=False)) for n, root in roots.items()}
    bound = 6 * case_bytes  # 30 more cases held in memory would be 30 x case_bytes
    assert old[40] - old[10] > bound  # the in-memory reader holds every case: the bound bites
    assert cold[40] - cold[10] < bound, (cold, case_bytes)
    assert warm[40] - warm[10] < bound, (warm, case_bytes)



# ------------------------------------------------------------------ resampled cases stay on disk
UPSAMPLE = (1.0, 1.0, 1.0)  # _synthetic's (1.0, 1.2, 1.5) mm brought to 1 mm: more voxels


def test_resampled_cached_cases_are_references_equal_to_resampling_in_memory(tmp_path):
    from bench.data import geometry

    root = write_nnunet(_synthetic(2, channels=2), tmp_path / "ds")
    plan = geometry.Plan(UPSAMPLE, 2)
    lazy = geometry.apply(load_dataset(root), plan)
    eager = geometry.apply(load_dataset(root, cache=False), plan)
    assert all(c.lazy for c in lazy), "a cached dataset's resampled cases are held in memory"
    assert not any(c.lazy for c in eager)  # cases built in memory are resampled in memory
    assert isinstance(lazy[0].image, np.memmap)
    assert lazy[0].spatial_shape == (24, 34, 30) and lazy[0].spacing == UPSAMPLE
    _assert_same(lazy, eager)


def test_a_second_resampling_reads_the_cache_and_resamples_nothing(tmp_path, monkeypatch):
    from nnunetv2.preprocessing.resampling import default_resampling

    from bench.data import geometry

    root = write_nnunet(_synthetic(2), tmp_path / "ds")
    plan = geometry.Plan(UPSAMPLE, 2)
    first = geometry.apply(load_dataset(root), plan)

    def refuse(*args, **kwargs):
        raise AssertionError("a case was resampled again")

    monkeypatch.setattr(default_resampling, "resample_data_or_seg_to_shape", refuse)
    _no_nifti(monkeypatch)
    second = geometry.apply(load_dataset(root), plan)
    _assert_same(first, second)


def test_memory_of_resampling_does_not_grow_with_the_number_of_cases(tmp_path):
    """A run keeps its resampled sets for its whole length (``RunData``): references, not
    voxels, or a dataset that needs resampling would have to fit in memory."""
    from bench.data import geometry

    plan = geometry.Plan(UPSAMPLE, 2)
    case_bytes = 24 * 34 * 30 * (4 + 1)  # one resampled case: float32 image, uint8 label
    roots = {n: write_nnunet(_synthetic(n, seed=n), tmp_path / f"ds{n}") for n in (10, 40)}
    geometry.apply(load_dataset(write_nnunet(_synthetic(2), tmp_path / "warm-up")), plan)
    kept: dict = {}

    def run(n, cache):
        kept[n, cache] = geometry.apply(load_dataset(roots[n], cache=cache), plan)

    cold = {n: _peak(lambda n=n: run(n, True)) for n in roots}
    warm = {n: _peak(lambda n=n: run(n, True)) for n in roots}
    old = {n: _peak(lambda n=n: run(n, False)) for n in roots}
    bound = 6 * case_bytes  # 30 more resampled cases held would be 30 x case_bytes
    assert old[40] - old[10] > bound  # held in memory, every case is: the bound bites
    assert cold[40] - cold[10] < bound, (cold, case_bytes)
    assert warm[40] - warm[10] < bound, (warm, case_bytes)


# ------------------------------------------------------------------ training reads references
def _cached_and_in_ram(tmp_path, n=3, channels=1):
    root = write_nnunet(_synthetic(n, channels=channels), tmp_path / f"ds{n}_{channels}")
    return load_dataset(root), load_dataset(root, cache=False)


@pytest.mark.parametrize(("size", "fit"), [(None, "resize"), ((16, 16), "resize"),
                                           ((32, 32), "pad")])
def test_slices_of_cached_cases_are_references_equal_to_the_in_memory_slices(tmp_path, size,
                                                                              fit):
    from bench.api.slices import extract_slices

    cached, in_ram = _cached_and_in_ram(tmp_path)
    lazy, eager = (extract_slices(c, axis=2, size=size, fit=fit, min_foreground=0.05)
                   for c in (cached, in_ram))
    assert len(lazy) == len(eager) > 0 and lazy.index == eager.index
    assert all(c.lazy for c in lazy.cases)
    for a, b in zip(lazy.cases, eager.cases, strict=True):
        assert a.id == b.id and a.spacing == pytest.approx(b.spacing) and a.meta == b.meta
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.label, b.label)


def test_normalising_cached_cases_keeps_references_and_equals_the_in_memory_result(tmp_path):
    from segmenters.monai_models import normalise

    cached, in_ram = _cached_and_in_ram(tmp_path, channels=2)
    ct = {"channels": [{"channel": "ch0", "scheme": "CT", "percentile_00_5": 80.0,
                        "percentile_99_5": 120.0, "mean": 101.0, "std": 9.0},
                       {"channel": "ch1", "scheme": "zscore"}]}
    for plan in (None, ct):
        lazy, eager = normalise(cached, plan), normalise(in_ram, plan)
        assert all(c.lazy for c in lazy)
        for a, b in zip(lazy, eager, strict=True):
            np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(lazy[0].image[:, :, :, 4], eager[0].image[:, :, :, 4])


@pytest.mark.parametrize("patch", [(16, 16), (8, 8, 8)])
def test_batches_from_references_equal_batches_from_arrays(tmp_path, patch):
    import torch

    from bench.api.slices import extract_slices
    from segmenters.batches import DeviceBatches, host_batch, item

    cached, in_ram = _cached_and_in_ram(tmp_path)
    if len(patch) == 2:
        cached, in_ram = (extract_slices(c, axis=2, size=patch).cases for c in (cached, in_ram))
    lazy, eager = [item(c) for c in cached], [item(c) for c in in_ram]
    assert all(isinstance(i["image"], Lazy) for i in lazy)
    on_refs = DeviceBatches(lazy, None, 4, patch, 0, "cpu", None)
    on_arrays = DeviceBatches(eager, None, 4, patch, 0, "cpu", None)
    assert on_refs.items is lazy  # nothing read until a batch is drawn
    for step in range(3):
        for a, b in zip(on_refs.draw(step), on_arrays.draw(step), strict=True):
            torch.testing.assert_close(a, b)
        for a, b in zip(host_batch(lazy, None, 4, patch, 0, step, None),
                        host_batch(eager, None, 4, patch, 0, step, None), strict=True):
            torch.testing.assert_close(a, b)


def _training_items(cases: CaseSet):
    from bench.api.slices import extract_slices
    from segmenters.batches import DeviceBatches, item
    from segmenters.monai_models import normalise

    slices = extract_slices(normalise(cases), axis=2, size=(16, 16), min_foreground=0.01)
    batches = DeviceBatches([item(c) for c in slices.cases], None, 4, (16, 16), 0, "cpu", None)
    for step in range(2):
        batches.draw(step)
    return batches


def test_training_items_memory_does_not_grow_with_the_number_of_cases(tmp_path):
    """Per slice, a reference of ~2 kB stays (per-case metadata); voxels do not."""
    shape = (64, 64, 20)  # planes large enough that voxels, not references, dominate
    case_bytes = int(np.prod(shape)) * (4 + 1)
    roots = {n: write_nnunet(_synthetic(n, seed=n, shape=shape), tmp_path / f"ds{n}")
             for n in (10, 40)}
    _training_items(load_dataset(write_nnunet(_synthetic(2), tmp_path / "warm-up")))
    kept: dict = {}

    def run(n, cache):
        kept[n, cache] = _training_items(load_dataset(roots[n], cache=cache))

    new = {n: _peak(lambda n=n: run(n, True)) for n in roots}
    old = {n: _peak(lambda n=n: run(n, False)) for n in roots}
    bound = 6 * case_bytes
    assert old[40] - old[10] > bound  # normalised volumes and slices of every case held
    assert new[40] - new[10] < bound, (new, case_bytes)


def test_test_sets_are_predicted_and_scored_a_chunk_at_a_time(tmp_path, monkeypatch):
    """Predictions are whole label volumes: run_experiment holds PREDICT_CHUNK of them, not a
    test set's, and the per-case table is the one predicting the whole set at once gives."""
    import pandas as pd

    import bench.run.experiment as experiment
    from bench.api.strategies import parse_strategy
    from bench.data import geometry
    from bench.data.phantom import PhantomConfig, make_phantom
    from metrics.segmentation import evaluate
    from segmenters.monai_models import UNet2D

    cases = make_phantom(PhantomConfig(subjects=5, resolution=4.0, seed=5))
    plan = geometry.plan(cases.subset([0, 1]))
    data = {"real": geometry.apply(cases.subset([0]), plan),
            "val": geometry.apply(cases.subset([1]), plan)}
    tests = {"t": cases.subset([2, 3, 4])}
    sizes = []
    predict = UNet2D.predict

    def counted(self, model, cases, device="cpu"):
        sizes.append(len(cases))
        return predict(self, model, cases, device)

    monkeypatch.setattr(experiment, "PREDICT_CHUNK", 2)
    monkeypatch.setattr(UNet2D, "predict", counted)
    exp = experiment.Experiment("unet2d", parse_strategy("real"), "tiny", {"steps": 2},
                                device="cpu")
    table = experiment.run_experiment(exp, data, tests, tmp_path)
    assert sizes == [2, 1]
    segmenter = experiment.build_segmenter("unet2d", "tiny", {"steps": 2})
    whole = evaluate(tests["t"], predict(segmenter, segmenter.load(tmp_path), tests["t"]), "t")
    pd.testing.assert_frame_equal(table, whole)


def test_two_nodes_with_the_same_process_id_write_into_different_private_folders(monkeypatch):
    """Ray nodes share the cache folder; a process on each may have the same id."""
    from bench.data import cache

    monkeypatch.setattr(cache.os, "getpid", lambda: 4242)
    entry = cache.Path("cache") / "entry"
    monkeypatch.setattr(cache.socket, "gethostname", lambda: "node-a")
    first = cache.private_folder(entry)
    monkeypatch.setattr(cache.socket, "gethostname", lambda: "node-b")
    assert cache.private_folder(entry) != first
    assert first.parent == entry.parent and first.name.startswith(".entry.")


def test_a_fitted_slice_reads_only_the_files_its_array_depends_on(phantom, tmp_path,
                                                                   monkeypatch):
    """A batch drawn from the cache reads each plane it needs once: the image of a slice does
    not read the label or partial-volume files, and the label does not read the image (the old
    path read every array of the slice for each one)."""
    from bench.api.slices import extract_slices

    root = write_nnunet(phantom.subset(range(1)), tmp_path / "ds")
    cached, in_ram = load_dataset(root), load_dataset(root, cache=False)
    lazy, eager = (extract_slices(c, axis=2, size=(96, 96), fit="pad").cases
                   for c in (cached, in_ram))
    opened: list[str] = []
    load = np.load
    monkeypatch.setattr(np, "load", lambda path, *a, **k: opened.append(str(path)) or
                        load(path, *a, **k))
    image = lazy[5].image
    image_files = set(opened)
    opened.clear()
    label = lazy[5].label
    label_files = set(opened)
    assert len(image_files) == 1 and image_files.isdisjoint(label_files), (image_files,
                                                                           label_files)
    np.testing.assert_array_equal(image, eager[5].image)
    np.testing.assert_array_equal(label, eager[5].label)
    assert lazy[5].ref("pv") is not None  # the phantom has partial-volume maps: the label path
    np.testing.assert_allclose(lazy[5].pv, eager[5].pv)
