"""`synth2seg generator fit | sample | list`: the shared commands of every generator."""

from __future__ import annotations

import json
import shutil

from tests.conftest import call_cli


def test_fit_sample_and_check_a_brainspade_dataset(capsys, phantom3_dir, tmp_path):
    folder, out = tmp_path / "g", tmp_path / "samples"
    fit = call_cli(capsys, "generator", "fit", "brainspade", "--data", str(phantom3_dir),
                   "--preset", "tiny", "--out", str(folder), "--device", "cpu")
    assert fit.returncode == 0, fit.stderr
    assert json.loads((folder / "generator.json").read_text())["name"] == "brainspade"
    sample = call_cli(capsys, "generator", "sample", str(folder), "-n", "3", "--out", str(out),
                      "--device", "cpu")
    assert sample.returncode == 0, sample.stderr
    check = call_cli(capsys, "data", "check", str(out))
    assert check.returncode == 0 and "3 cases" in check.stdout


def test_unlabelled_style_folder_is_accepted(capsys, phantom3_dir, tmp_path):
    """Target-domain style images come without labels: a folder without labelsTr/ works."""
    style = tmp_path / "style"
    shutil.copytree(phantom3_dir, style)
    shutil.rmtree(style / "labelsTr")
    shutil.rmtree(style / "pvTr", ignore_errors=True)
    folder = tmp_path / "g"
    assert call_cli(capsys, "generator", "fit", "brainspade", "--data", str(phantom3_dir),
                    "--preset", "tiny", "--out", str(folder), "--device", "cpu").returncode == 0
    result = call_cli(capsys, "generator", "sample", str(folder), "-n", "2", "--style",
                      str(style), "--out", str(tmp_path / "s"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert call_cli(capsys, "data", "check", str(style)).returncode == 2, \
        "a dataset without labels is still refused where labels are needed"


def test_a_folder_holding_another_fit_is_refused(capsys, phantom3_dir, tmp_path):
    folder = tmp_path / "g"
    (folder / "work").mkdir(parents=True)
    (folder / "generator.json").write_text(json.dumps({"name": "brainspade", "preset": "demo"}))
    (folder / "work" / "vae.pt").write_bytes(b"a checkpoint of that fit")
    result = call_cli(capsys, "generator", "fit", "brainspade", "--data", str(phantom3_dir),
                      "--preset", "tiny", "--out", str(folder))
    assert result.returncode == 2
    assert "holds another fit" in result.stderr and "preset" in result.stderr


def test_sampling_a_folder_that_holds_no_generator_is_one_line(capsys, tmp_path):
    result = call_cli(capsys, "generator", "sample", str(tmp_path), "-n", "2", "--out",
                      str(tmp_path / "x"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "not a fitted generator" in result.stderr


def test_unknown_generator_parameter_names_the_field(capsys, phantom3_dir, tmp_path):
    result = call_cli(capsys, "generator", "fit", "brainspade", "--data", str(phantom3_dir),
                      "--set", "vae_stepz=3", "--out", str(tmp_path / "g"))
    assert result.returncode == 2 and "vae_stepz" in result.stderr


def test_list_shows_generators_with_presets(capsys):
    result = call_cli(capsys, "generator", "list")
    assert result.returncode == 0
    assert "brainspade" in result.stdout and "tiny, demo, paper" in result.stdout
