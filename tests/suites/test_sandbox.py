"""Issue 37, done-when: every command, given hostile inputs inside a sandbox folder, creates,
changes or deletes no file outside its own output folder.

The whole temporary tree (inputs, a victim folder beside the sandbox, symlinks that point at it)
is recorded as (path, size, mtime, SHA-256) before and after each command; every difference
must lie under the folder the command was told (or defaults) to write.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import call_cli
from tests.data.test_io import write_msd
from tests.fake_runs import write_fake_run


def _tree(root: Path) -> dict[str, tuple]:
    """Every file and symlink under ``root``: size, mtime and content hash (links: target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = ("link", str(path.readlink()))
        elif path.is_file():
            stat = path.stat()
            out[key] = (stat.st_size, stat.st_mtime_ns,
                        hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _changes(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


@pytest.fixture
def sandbox(tmp_path, phantom3_dir, monkeypatch):
    """Inputs a careless or hostile user might hand over, with a victim folder outside."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("the user's own work")
    (victim / "scores.csv").write_text("method,case,score\n")
    box = tmp_path / "sandbox"
    box.mkdir()
    shutil.copytree(phantom3_dir, box / "ds")
    (box / "escape").symlink_to(victim, target_is_directory=True)  # a link out of the sandbox
    msd = write_msd(box / "msd")
    meta = json.loads((msd / "dataset.json").read_text())
    meta["training"][0]["label"] = "../../victim/thesis.txt"
    (msd / "dataset.json").write_text(json.dumps(meta))
    run = write_fake_run(box / "run", {"gen": 0.05}, cases=4, seeds=(0, 1))
    db = sqlite3.connect(run / "results.sqlite")  # the manifest names a folder outside
    config = {"name": "../../victim", "dataset": str(victim), "metrics": ["dice", "hd95"],
              "primary_metric": "dice", "report": {"resamples": 200}}
    db.execute("UPDATE manifest SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.commit()
    db.close()
    rows = "".join(f"{m},{c},{v}\n" for c in range(4) for m, v in
                   (("=cmd|' /C calc'!A0", 0.5), ("b", 0.4), ("c", 0.3)))
    (box / "scores.csv").write_text("method,case,score\n" + rows)
    (box / "hostile.yaml").write_text(
        f"name: hostile\ndataset: {box / 'ds'}\ntest_sets: {{escape: {box / 'escape'}}}\n"
        "generators: [{name: none}]\nsegmenters: [{name: unet2d, preset: tiny}]\n"
        "device: cpu\n")
    (box / "dotdot.yaml").write_text(f"name: ..\ndataset: {box / 'ds'}\n")
    monkeypatch.chdir(box)
    return box


def _commands(box: Path) -> list[tuple[list[str], str | None]]:
    """(argv, output folder relative to the sandbox, or None for a command that writes nothing)."""
    ds, run = str(box / "ds"), str(box / "run")
    return [
        (["data", "phantom", "--out", "out/phantom", "--subjects", "1"], "out/phantom"),
        (["data", "phantom", "--out", "escape", "--subjects", "1"], None),  # the victim's folder
        (["data", "check", str(box / "msd")], None),
        (["data", "check", str(box / "escape")], None),
        (["data", "show", ds, "--out", "out/show.png", "--cases", "1"], "out/show.png"),
        (["generator", "list"], None),
        (["generator", "fit", "phantom-oracle", "--data", "phantom:A:1", "--out", "out/fit"],
         "out/fit"),
        (["generator", "sample", "out/fit", "-n", "1", "--out", "out/samples"], "out/samples"),
        (["generator", "sample", "out/fit", "-n", "1", "--out", "escape"], None),
        (["generator", "fit", "b-sg", "--data", str(box / "msd"), "--out", "out/fit2"],
         "out/fit2"),
        (["train", "--data", ds, "--out", "out/train", "--test", str(box / "msd"),
          "--preset", "tiny"], "out/train"),
        (["train", "--data", ds, "--out", "escape", "--segmenter", "unet9d"], None),
        (["run", "hostile.yaml", "--out", "out/run"], "out/run"),
        (["run", "dotdot.yaml"], "runs"),
        (["run", "hostile.yaml", "--dry-run"], None),
        (["report", run], "leaderboards"),
        (["report", run, "--out", "out/board"], "out/board"),
        (["report", run, "--out", "escape"], None),
        (["stats", "scores.csv", "--out", "out/tables"], "out/tables"),
        (["stats", "scores.csv", "--out", "escape"], None),
        (["status", run], None),
        (["fidelity", run], "run"),
    ]


def test_every_command_leaves_everything_outside_its_output_alone(sandbox, capsys):
    root = sandbox.parent
    results = []
    for argv, out in _commands(sandbox):
        before = _tree(root)
        result = call_cli(capsys, *argv)
        assert "Traceback" not in result.stderr, (argv, result.stderr)
        results.append((argv[:2], result.returncode))
        prefix = None if out is None else str((sandbox / out).relative_to(root))
        outside = {p for p in _changes(before, _tree(root))
                   if prefix is None or not (p == prefix or p.startswith(prefix + "/"))}
        assert not outside, f"{' '.join(argv)} touched {sorted(outside)}"
    assert (root / "victim" / "thesis.txt").read_text() == "the user's own work"
    assert sorted({argv[0] for argv, _ in results}) == sorted(
        {"data", "generator", "train", "run", "report", "stats", "status", "fidelity"})
