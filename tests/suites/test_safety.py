"""Safe with users' files: no data loss, no code run from a checkpoint, one driver per run
folder, nothing written before validation, damaged artifacts found and rebuilt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench.api import SampleContext
from bench.api.errors import DataError, UserError
from bench.api.presets import from_preset
from bench.run.artifacts import ensure_fit, ensure_samples, load_samples
from bench.run.config import GeneratorSpec, load_config
from bench.run.resolve import resolve
from bench.run.runlock import RunLock
from bench.run.store import Store
from generators.state import FILE as FITTED
from tests.conftest import call_cli

# ---- 1. data loss ----------------------------------------------------------------------------


def _users_dataset(root: Path) -> Path:
    """A folder the user made: their own image, not written by synth2seg."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "imagesTr" / "mine_0000.nii.gz").write_bytes(b"the user's scan")
    return root


def test_phantom_refuses_a_folder_holding_the_users_files(capsys, tmp_path):
    root = _users_dataset(tmp_path / "ds")
    result = call_cli(capsys, "data", "phantom", "--out", str(root), "--subjects", "1")
    assert result.returncode == 2, result.stderr
    assert "not written by synth2seg" in result.stderr
    assert (root / "imagesTr" / "mine_0000.nii.gz").read_bytes() == b"the user's scan"


def test_overwrite_does_not_unlock_a_folder_synth2seg_did_not_write(capsys, tmp_path):
    root = _users_dataset(tmp_path / "ds")
    result = call_cli(capsys, "data", "phantom", "--out", str(root), "--subjects", "1",
                      "--overwrite")
    assert result.returncode == 2
    assert (root / "imagesTr" / "mine_0000.nii.gz").exists()


def test_sampling_refuses_the_users_folder_before_anything_else(capsys, tmp_path):
    root = _users_dataset(tmp_path / "ds")
    result = call_cli(capsys, "generator", "sample", str(tmp_path / "nofit"), "-n", "1",
                      "--out", str(root))
    assert result.returncode == 2 and "not written by synth2seg" in result.stderr
    assert (root / "imagesTr" / "mine_0000.nii.gz").exists()


def test_synth2seg_output_is_replaced_only_with_overwrite(capsys, tmp_path):
    root = tmp_path / "ds"
    args = ("data", "phantom", "--out", str(root), "--subjects", "1")
    assert call_cli(capsys, *args).returncode == 0
    again = call_cli(capsys, *args, "--site", "B")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert json.loads((root / "dataset.json").read_text())["name"] == "phantom_siteA"
    assert call_cli(capsys, *args, "--site", "B", "--overwrite").returncode == 0
    assert json.loads((root / "dataset.json").read_text())["name"] == "phantom_siteB"


# ---- 2. no code runs from a checkpoint --------------------------------------------------------


def _run_payload(marker: str) -> None:
    Path(marker).write_text("code from a checkpoint ran")


class Payload:
    """Unpickling this calls ``_run_payload``: what a crafted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return _run_payload, (self.marker,)


def _crafted(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": {}, "state": Payload(marker), "nets": {}, "step": 1,
                "net": Payload(marker)}, path)


def _load_generator(name, file):
    def load(folder: Path):
        from bench.api.registry import get_generator

        get_generator(name).load(folder)
    return load, file


def _resume_generator_stage(folder: Path):
    from bench.api.generator import FitContext
    from generators.training import TrainingStage, run_stage

    run_stage(TrainingStage("stage", 1, {}, {}), lambda step, rng: {}, FitContext(workdir=folder))


def _resume_segmenter(folder: Path):
    from segmenters.training import Loop, train_network

    net = torch.nn.Conv2d(1, 2, 1)
    train_network(net, [], None, [], Loop(1, 1, 1e-3, 1, 1, (8, 8)), folder, "cpu", 0, None,
                  None, 2)


def _segmenter_weights(folder: Path):
    from bench.api.registry import get_segmenter
    from bench.api.segmenter import TrainedModel

    seg = from_preset(get_segmenter("unet2d"), "tiny")
    seg.network(TrainedModel(folder / "best.pt", {"in_channels": 1, "n_classes": 4}))


LOADERS = {
    "stylegan2": _load_generator("b-sg", FITTED),
    "brainspade": _load_generator("brainspade", FITTED),
    "medgen3d": _load_generator("medgen3d", FITTED),
    "generator-stage-resume": (_resume_generator_stage, "stage.pt"),
    "segmenter-resume": (_resume_segmenter, "last.pt"),
    "segmenter-weights": (_segmenter_weights, "best.pt"),
}


@pytest.mark.parametrize("where", LOADERS)
def test_a_crafted_checkpoint_is_refused_without_running_its_code(where, tmp_path):
    load, file = LOADERS[where]
    marker = tmp_path / "pwned"
    _crafted(tmp_path / "folder" / file, marker)
    with pytest.raises(DataError, match="refused to load"):
        load(tmp_path / "folder")
    assert not marker.exists(), "loading the checkpoint ran code from it"


def test_sampling_a_shared_folder_with_a_crafted_checkpoint_is_one_line(capsys, tmp_path):
    folder, marker = tmp_path / "shared", tmp_path / "pwned"
    folder.mkdir()
    (folder / "generator.json").write_text(json.dumps({"name": "b-sg"}))
    _crafted(folder / "model" / FITTED, marker)
    result = call_cli(capsys, "generator", "sample", str(folder), "-n", "1", "--out",
                      str(tmp_path / "out"))
    assert result.returncode == 2 and f"{FITTED}: refused to load" in result.stderr
    assert not marker.exists()


def test_a_truncated_checkpoint_is_one_line(capsys, tmp_path):
    folder = tmp_path / "g"
    (folder / "model").mkdir(parents=True)
    (folder / "generator.json").write_text(json.dumps({"name": "b-sg"}))
    torch.save({"params": {}, "state": {}, "nets": {"w": torch.zeros(1000)}},
               folder / "model" / FITTED)
    data = (folder / "model" / FITTED).read_bytes()
    (folder / "model" / FITTED).write_bytes(data[: len(data) // 2])
    result = call_cli(capsys, "generator", "sample", str(folder), "-n", "1", "--out",
                      str(tmp_path / "out"))
    assert result.returncode == 2 and "truncated checkpoint" in result.stderr


# ---- 4. one driver per run folder -------------------------------------------------------------


def _config(tmp_path: Path, data: Path, **changes) -> Path:
    config = {"name": "tiny", "dataset": str(data), "split": {"val": 0.0, "test": 0.34},
              "generators": [{"name": "none"}], "strategies": ["real"],
              "segmenters": [{"name": "unet2d", "preset": "tiny",
                              "params": {"steps": 1, "batch": 1}}],
              "metrics": ["dice"], "device": "cpu", **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_second_driver_on_a_locked_run_folder_stops_naming_the_holder(capsys, phantom3_dir,
                                                                         tmp_path):
    run_dir = tmp_path / "run"
    config = _config(tmp_path, phantom3_dir)
    with RunLock(run_dir):
        result = call_cli(capsys, "run", str(config), "--out", str(run_dir))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"PID {os.getpid()}" in lines[0]
    assert not (run_dir / "results.sqlite").exists(), "the second driver wrote the store"


def test_the_lock_is_released_when_the_driver_ends(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(UserError, match="another synth2seg driver"):
            RunLock(tmp_path).__enter__()
    with RunLock(tmp_path):
        pass


# ---- 5. validate everything before writing anything ------------------------------------------


def test_a_refused_run_writes_nothing_and_its_fix_runs(capsys, phantom3_dir, tmp_path):
    run_dir = tmp_path / "run"
    bad = _config(tmp_path, phantom3_dir, test_sets={"other": str(tmp_path / "missing")})
    result = call_cli(capsys, "run", str(bad), "--out", str(run_dir))
    assert result.returncode == 2 and "missing" in result.stderr
    assert not run_dir.exists(), "a refused run left a stub behind"
    fixed = _config(tmp_path, phantom3_dir)
    result = call_cli(capsys, "run", str(fixed), "--out", str(run_dir))
    assert result.returncode == 0, result.stderr


def test_a_stub_store_from_an_earlier_refusal_does_not_block_another_config(phantom3_dir,
                                                                           tmp_path):
    """Folders written by older versions before their refusal: no cells, no artifacts."""
    from bench.run.runner import Runner

    run_dir = tmp_path / "run"
    store = Store(run_dir / "results.sqlite")
    store.set_manifest({"config_hash": "0123456789abcdef"})
    store.close()
    config = load_config(_config(tmp_path, phantom3_dir))
    cells = Runner(config, run_dir).run()
    assert set(cells.status) == {"done"}


def test_a_fit_stub_without_checkpoints_does_not_block_the_corrected_fit(capsys, phantom3_dir,
                                                                         tmp_path):
    """The oracle refuses a dataset folder inside its fit, after generator.json is written."""
    folder = tmp_path / "g"
    args = ("generator", "fit", "phantom-oracle", "--out", str(folder), "--device", "cpu")
    refused = call_cli(capsys, *args, "--data", str(phantom3_dir))
    assert refused.returncode == 2 and "embedded phantom" in refused.stderr
    fixed = call_cli(capsys, *args, "--data", "phantom:A:3")
    assert fixed.returncode == 0, fixed.stderr


def test_train_refuses_before_writing_its_folder(capsys, phantom3_dir, lesion_dir, tmp_path):
    out = tmp_path / "train"
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out", str(out),
                      "--test", str(lesion_dir), "--preset", "tiny", "--device", "cpu")
    assert result.returncode == 2 and "channels" in result.stderr
    assert not out.exists()


# ---- 6. damaged artifacts ---------------------------------------------------------------------


def test_a_damaged_sample_set_is_rebuilt_not_used(phantom, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    spec = resolve("generator", GeneratorSpec(name="phantom-oracle"))
    fit = ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    folder = ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom)
    expected = load_samples(folder, 2)
    victim = sorted((folder / "dataset" / "imagesTr").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    again = ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom)
    assert again == folder
    assert list(store.artifacts().builds) == [1, 2], "the sample set was not rebuilt"
    for a, b in zip(expected, load_samples(again, 2), strict=True):
        np.testing.assert_array_equal(a.image, b.image)
    store.close()


def test_an_intact_artifact_is_not_rebuilt(phantom, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    spec = resolve("generator", GeneratorSpec(name="phantom-oracle"))
    fit = ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom)
    ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom)
    assert list(store.artifacts().builds) == [1, 1]
    store.close()


# ---- 8. unwritable outputs --------------------------------------------------------------------


def test_an_out_folder_that_cannot_be_written_is_refused_up_front(capsys, tmp_path, monkeypatch):
    """Tests run as root, which writes anywhere: the permission answer is simulated."""
    import bench.data.outputs

    monkeypatch.setattr(bench.data.outputs.os, "access", lambda path, mode: False)
    result = call_cli(capsys, "data", "phantom", "--out", str(tmp_path / "ro" / "ds"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: --out {tmp_path / 'ro' / 'ds'}: {tmp_path} is not " \
                                    "writable"


def test_a_permission_error_while_writing_is_one_line_naming_the_file(capsys, phantom_dir,
                                                                     tmp_path, monkeypatch):
    import bench.fidelity.montage

    def denied(cases, out, max_cases=8):
        raise PermissionError(13, "Permission denied", str(out))
    monkeypatch.setattr(bench.fidelity.montage, "save_montage", denied)
    out = tmp_path / "show.png"
    result = call_cli(capsys, "data", "show", str(phantom_dir), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {out}: Permission denied"


def test_a_changed_byte_is_found_by_hash_and_a_truncation_by_size(tmp_path):
    from bench.run.digest import damage, seal

    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "w.bin").write_bytes(bytes(range(200)))
    seal(folder, tmp_path / "record.json")
    assert damage(folder, tmp_path / "record.json") is None
    (folder / "w.bin").write_bytes(bytes([1]) + bytes(range(1, 200)))  # same size
    assert damage(folder, tmp_path / "record.json", quick=True) is None
    assert "changed" in damage(folder, tmp_path / "record.json")
    (folder / "w.bin").write_bytes(bytes(100))
    assert "(size)" in damage(folder, tmp_path / "record.json", quick=True)
    (folder / "w.bin").unlink()
    assert "missing" in damage(folder, tmp_path / "record.json", quick=True)
