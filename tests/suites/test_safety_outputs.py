"""Data loss and tampering (issue 37, items 1-7): what a command writes never replaces a user's
files, never reaches outside its output folder whatever a file in it says, and a run folder
someone else could have edited is checked before its numbers are published."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench.api.errors import DataError
from bench.run.store import Store
from tests.conftest import call_cli
from tests.fake_runs import write_fake_run

DANGER = ("=", "+", "-", "@", "\t", "\r")


def _fake(run_dir: Path, **kwargs) -> Path:
    """The smallest fake run a report accepts: two methods, a few cases, two seeds."""
    kwargs = {"cases": 4, "seeds": (0, 1), "test_sets": ("heldout",), **kwargs}
    return write_fake_run(run_dir, {kwargs.pop("label", "b-sg"): 0.05}, **kwargs)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---- 1. report --out into a folder synth2seg did not write -------------------------------------


def test_report_out_refuses_a_folder_synth2seg_did_not_write(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    mine = tmp_path / "mine"
    (mine / "summaries" / "paper").mkdir(parents=True)
    (mine / "summaries" / "paper" / "table2.json").write_text('{"dice": 0.9}')
    for name in ("index.html", "leaderboard.md", "leaderboard.csv"):
        (mine / name).write_text(f"the user's {name}")
    before = _tree(mine)
    result = call_cli(capsys, "report", str(run), "--out", str(mine))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "not written by synth2seg" in result.stderr
    assert _tree(mine) == before
    assert {p.name for p in tmp_path.iterdir()} == {"run", "mine"}, "a temporary folder was left"


def test_report_out_writes_into_an_empty_folder_and_replaces_its_own(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    board = tmp_path / "board"
    board.mkdir()
    assert call_cli(capsys, "report", str(run), "--out", str(board)).returncode == 0
    (board / "RUN.md").write_text("how the user made this run")
    again = call_cli(capsys, "report", str(run), "--out", str(board))
    assert again.returncode == 0, again.stderr
    assert (board / "RUN.md").read_text() == "how the user made this run"
    assert (board / "leaderboard.csv").is_file()
    assert {p.name for p in tmp_path.iterdir()} == {"run", "board"}


# ---- 2. .report-files is not trusted ---------------------------------------------------------


def test_report_record_cannot_delete_anything_outside_the_output_folder(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    board = tmp_path / "board"
    assert call_cli(capsys, "report", str(run), "--out", str(board)).returncode == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("relative victim")
    (victim / "absolute").write_text("absolute victim")
    (victim / "keep.json").write_text("{}")
    record = board / ".report-files"
    record.write_text(record.read_text() + "../victim/file\n" + f"{victim / 'absolute'}\n")
    # a symlinked summaries folder and a symlinked stale summary point out of the folder
    (board / "summaries" / "link.json").symlink_to(victim / "keep.json")
    (board / "summaries" / "elsewhere").symlink_to(victim, target_is_directory=True)
    result = call_cli(capsys, "report", str(run), "--out", str(board))
    assert result.returncode == 0, result.stderr
    assert (victim / "file").read_text() == "relative victim"
    assert (victim / "absolute").read_text() == "absolute victim"
    assert (victim / "keep.json").read_text() == "{}"
    assert "../victim/file" not in (board / ".report-files").read_text()


def test_report_does_not_write_through_a_symlink_in_its_folder(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    board = tmp_path / "board"
    assert call_cli(capsys, "report", str(run), "--out", str(board)).returncode == 0
    victim = tmp_path / "victim.csv"
    victim.write_text("the user's table")
    (board / "leaderboard.csv").unlink()
    (board / "leaderboard.csv").symlink_to(victim)
    assert call_cli(capsys, "report", str(run), "--out", str(board)).returncode == 0
    assert victim.read_text() == "the user's table"
    assert not (board / "leaderboard.csv").is_symlink()


# ---- 3. a crafted store does not choose where report writes ----------------------------------


@pytest.mark.parametrize("name", ["..", "../escaped", "ABSOLUTE", ""])
def test_report_name_from_the_store_cannot_choose_where_it_writes(capsys, tmp_path, monkeypatch,
                                                                  name):
    target = tmp_path / "elsewhere"
    name = str(target) if name == "ABSOLUTE" else name
    run = _fake(tmp_path / "work" / "run", name=name)
    monkeypatch.chdir(tmp_path / "work")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    result = call_cli(capsys, "report", str(run))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "name" in result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


def test_run_default_folder_name_is_checked_where_it_is_used(capsys, tmp_path, monkeypatch):
    """``runs/<name>``: a name of dots passes the config's pattern but is no folder name."""
    import bench.run.runner

    started = []

    class Recorder:
        def __init__(self, matrix, folder, **kwargs):
            started.append(folder)
            raise SystemExit(3)

    monkeypatch.setattr(bench.run.runner, "Runner", Recorder)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("name: '..'\n")
    result = call_cli(capsys, "run", str(config))
    assert not started, f"the run started in {started}"
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "name" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


# ---- 4. --overwrite replaces, never follows, never half-deletes --------------------------------


def _phantom(capsys, root: Path, *extra: str):
    return call_cli(capsys, "data", "phantom", "--out", str(root), "--subjects", "1", *extra)


def test_overwrite_does_not_follow_a_symlinked_subfolder(capsys, tmp_path):
    root = tmp_path / "ds"
    assert _phantom(capsys, root).returncode == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "scan_0000.nii.gz").write_bytes(b"the user's scan")
    for sub in ("imagesTr", "labelsTr"):
        moved = root / sub
        for path in moved.iterdir():
            path.unlink()
        moved.rmdir()
        moved.symlink_to(mine, target_is_directory=True)
    result = _phantom(capsys, root, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert (mine / "scan_0000.nii.gz").read_bytes() == b"the user's scan"
    assert sorted(p.name for p in mine.iterdir()) == ["scan_0000.nii.gz"]
    assert not (root / "imagesTr").is_symlink() and any((root / "imagesTr").iterdir())


def test_a_failed_overwrite_keeps_the_old_output(capsys, tmp_path, monkeypatch):
    import bench.data.nnunet as nnunet

    root = tmp_path / "ds"
    assert _phantom(capsys, root).returncode == 0
    before = _tree(root)
    calls = []

    def fails_midway(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise DataError(f"{path}: no space left (simulated)")
        return original(path, *args, **kwargs)

    original = nnunet.write_volume
    monkeypatch.setattr(nnunet, "write_volume", fails_midway)
    result = _phantom(capsys, root, "--site", "B", "--overwrite")
    assert result.returncode == 2 and len(calls) == 2
    assert _tree(root) == before, "the old dataset was (partly) deleted before the failure"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"], "a temporary folder was left"


# ---- 5. stats --out ---------------------------------------------------------------------------


def _scores(path: Path) -> Path:
    rows = [{"method": m, "case": c, "score": s + 0.01 * c}
            for m, s in (("a", 0.7), ("b", 0.8), ("c", 0.75)) for c in range(6)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_stats_out_refuses_a_folder_holding_the_users_csvs(capsys, tmp_path):
    scores = _scores(tmp_path / "scores.csv")
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("signs.csv", "ranks.csv", "friedman.csv"):
        (mine / name).write_text(f"the user's {name}\n")
    before = _tree(mine)
    result = call_cli(capsys, "stats", str(scores), "--out", str(mine))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not written by synth2seg" in result.stderr
    assert _tree(mine) == before


def test_stats_out_replaces_its_own_tables_and_keeps_the_users_files(capsys, tmp_path):
    scores = _scores(tmp_path / "scores.csv")
    out = tmp_path / "tables"
    assert call_cli(capsys, "stats", str(scores), "--out", str(out)).returncode == 0
    (out / "notes.txt").write_text("mine")
    again = call_cli(capsys, "stats", str(scores), "--out", str(out), "--baseline", "a")
    assert again.returncode == 0, again.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / "paired.csv").is_file()


# ---- 6. CSV injection -------------------------------------------------------------------------


HOSTILE = "=HYPERLINK(\"http://x\",\"y\")"


def _cells(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_csv_cells_starting_with_a_formula_character_are_neutralised(tmp_path):
    from bench.data.csvcells import read_csv
    from bench.report.leaderboard import write_report

    run = write_fake_run(tmp_path / "run", {HOSTILE: 0.05, "+cmd|' /C calc'!A0": -0.04},
                         test_sets=("heldout", "@siteB"), classes=("-wm", "\tgm"), cases=4,
                         seeds=(0, 1))
    files = write_report(run, tmp_path / "board")
    numbers = 0
    for name, path in files.items():
        if not name.endswith(".csv"):
            continue
        for cell in _cells(path):
            if cell[:1] in DANGER and len(cell) > 1:
                assert _is_number(cell), f"{name}: {cell!r} reaches a spreadsheet as a formula"
                numbers += cell.startswith("-")
    assert numbers, "no negative number was left as a number"
    raw = (tmp_path / "board" / "leaderboard.csv").read_text()
    assert "'=HYPERLINK" in raw
    board = read_csv(files["leaderboard.csv"])
    assert HOSTILE in set(board.generator)
    classes = read_csv(files["per_class.csv"])
    assert {"-wm", "\tgm"} <= set(classes.astype(str).to_numpy().ravel()) | set(classes.columns)


def test_csv_neutralising_round_trips_and_leaves_numbers(tmp_path):
    from bench.data.csvcells import read_csv, write_csv

    names = ["=1+1", "+x", "-x", "@x", "\tx", "\rx", "'=x", "''-x", "'plain", "plain", "-", "+"]
    frame = pd.DataFrame({"name": names, "delta": [-0.03] * len(names),
                          "text_number": ["-0.03"] * len(names)})
    path = write_csv(frame, tmp_path / "t.csv")
    cells = _cells(path)
    assert "-0.03" in cells and "'=1+1" in cells and "'-x" in cells
    assert not [c for c in cells if c[:1] in DANGER and len(c) > 1 and not _is_number(c)]
    back = read_csv(path, keep_default_na=False)
    assert list(back.name) == names
    assert back.delta.dtype.kind == "f" and (back.delta == -0.03).all()


def test_stats_tables_neutralise_method_names(capsys, tmp_path):
    rows = [{"method": m, "case": c, "score": s + 0.01 * c}
            for m, s in (("=cmd()", 0.7), ("@b", 0.8), ("c", 0.75)) for c in range(6)]
    scores = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(scores, index=False)
    result = call_cli(capsys, "stats", str(scores), "--out", str(tmp_path / "o"),
                      "--baseline", "c")
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "o").glob("*.csv"):
        for cell in _cells(path):
            assert not (cell[:1] in DANGER and len(cell) > 1 and not _is_number(cell)), \
                (path.name, cell)


# ---- 7. a shared run folder is not trusted ------------------------------------------------------


def _sql(run: Path, *statements: str) -> None:
    db = sqlite3.connect(run / "results.sqlite")
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()


@pytest.mark.parametrize("planted", [
    "CREATE TRIGGER rewrite AFTER INSERT ON case_metrics BEGIN "
    "UPDATE case_metrics SET value = 1.0 WHERE metric = 'dice'; END",
    "CREATE VIEW best AS SELECT * FROM case_metrics",
    "CREATE TABLE extra (x)",
    "CREATE INDEX odd ON cells(seed)",
])
def test_a_store_with_schema_objects_synth2seg_did_not_create_is_refused(capsys, tmp_path,
                                                                         planted):
    run = _fake(tmp_path / "run")
    _sql(run, planted)
    with pytest.raises(DataError, match="did not create"):
        Store(run / "results.sqlite")
    result = call_cli(capsys, "report", str(run), "--out", str(tmp_path / "board"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "board").exists()


def test_a_planted_trigger_never_fires_on_a_resumed_run(tmp_path):
    run = _fake(tmp_path / "run")
    _sql(run, "CREATE TRIGGER rewrite AFTER INSERT ON case_metrics BEGIN "
              "UPDATE case_metrics SET value = 1.0 WHERE metric = 'dice'; END")
    before = _tree(run)
    with pytest.raises(DataError):
        Store(run / "results.sqlite")
    db = sqlite3.connect(run / "results.sqlite")
    assert db.execute("SELECT count(*) FROM case_metrics WHERE value = 1.0").fetchone()[0] == 0
    db.close()
    assert _tree(run) == before


def test_report_finds_a_value_edited_in_the_store(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    cell = sqlite3.connect(run / "results.sqlite").execute(
        "SELECT cell FROM case_metrics WHERE metric = 'dice' LIMIT 1").fetchone()[0]
    _sql(run, f"UPDATE case_metrics SET value = 1.0 WHERE rowid = "
              f"(SELECT min(rowid) FROM case_metrics WHERE cell = '{cell}')")
    result = call_cli(capsys, "report", str(run), "--out", str(tmp_path / "board"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and cell in result.stderr
    assert not (tmp_path / "board").exists()


def test_report_finds_a_deleted_row_and_an_edited_cell(capsys, tmp_path):
    for i, statement in enumerate(["DELETE FROM case_metrics WHERE rowid = 3",
                                   "UPDATE cells SET seed = 7 WHERE rowid = 1"]):
        run = _fake(tmp_path / f"run{i}")
        _sql(run, statement)
        result = call_cli(capsys, "report", str(run), "--out", str(tmp_path / f"board{i}"))
        assert result.returncode == 2 and "seal" in result.stderr, result.stderr


def test_report_refuses_unsealed_cells_unless_asked(capsys, tmp_path):
    run = _fake(tmp_path / "run")
    _sql(run, "UPDATE cells SET seal = NULL")
    refused = call_cli(capsys, "report", str(run), "--out", str(tmp_path / "board"))
    assert refused.returncode == 2 and "--unsealed" in refused.stderr, refused.stderr
    assert not (tmp_path / "board").exists()
    allowed = call_cli(capsys, "report", str(run), "--out", str(tmp_path / "board"),
                       "--unsealed")
    assert allowed.returncode == 0, allowed.stderr
    assert "unsealed" in allowed.stdout + allowed.stderr


def test_an_intact_store_reports_and_its_seals_survive_a_reopen(tmp_path):
    run = _fake(tmp_path / "run")
    with Store(run / "results.sqlite") as store:
        assert store.check_seals() == 0
    with Store(run / "results.sqlite") as store:
        assert store.check_seals() == 0
    manifest = json.loads(sqlite3.connect(run / "results.sqlite").execute(
        "SELECT value FROM manifest WHERE key = 'config'").fetchone()[0])
    assert manifest["name"] == "fake"


def test_a_cells_training_record_is_stored_and_sealed(tmp_path):
    """The record of why a cell stopped training travels with its rows into the store, where
    an edit to it is found like an edit to a value."""
    from types import SimpleNamespace

    record = [{"stage": "stage0_real", "steps": 400, "cap": 400, "patience": 3,
               "stopped": "cap", "stale": 1, "best_val_dice": 0.8}]
    cell = SimpleNamespace(key="k", method="real only", seed=0, count=0, method_id="m",
                           generator=SimpleNamespace(label="none"), train_cases=None,
                           strategy=SimpleNamespace(key="real", augment=False),
                           segmenter=SimpleNamespace(label="unet2d:tiny"))
    rows = pd.DataFrame({"test_set": ["heldout"], "case": ["c0"], "metric": ["dice"],
                         "class": ["wm"], "value": [0.7]})
    rows.attrs["training"] = record
    with Store(tmp_path / "results.sqlite") as store:
        store.commit_cell(cell, rows, 0.0, "cpu")
        assert json.loads(store.cells().training[0]) == record
        assert store.check_seals() == 0
    _sql(tmp_path, "UPDATE cells SET training = replace(training, 'cap', 'plateau')")
    with Store(tmp_path / "results.sqlite") as store, pytest.raises(DataError, match="seal"):
        store.check_seals()


def test_seals_written_before_training_records_still_hold(tmp_path):
    """A store of an earlier synth2seg has no ``training`` column: opening it adds one (NULL)
    and its cells' seals, computed without it, still verify."""
    run = _fake(tmp_path / "run")
    db = sqlite3.connect(run / "results.sqlite")
    db.execute("ALTER TABLE cells DROP COLUMN training")
    db.commit()
    db.close()
    with Store(run / "results.sqlite") as store:
        assert store.check_seals() == 0
        assert store.cells().training.isna().all()


def test_train_metrics_csv_neutralises_class_names(capsys, phantom3_dir, tmp_path, monkeypatch):
    """Class names and case ids come from a dataset anyone could have written."""
    import bench.run.experiment

    rows = pd.DataFrame({"test_set": ["heldout"] * 2, "case": ["@case", "ok"],
                         "class": ["=HYPERLINK(\"x\")", "wm"], "metric": ["dice"] * 2,
                         "value": [0.5, -0.25]})
    monkeypatch.setattr(bench.run.experiment, "run_experiment", lambda *args, **kwargs: rows)
    out = tmp_path / "train"
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--segmenter", "unet2d",
                      "--preset", "tiny", "--device", "cpu", "--no-hd95", "--out", str(out))
    assert result.returncode == 0, result.stderr
    cells = _cells(out / "metrics.csv")
    assert "'=HYPERLINK(\"x\")" in cells and "'@case" in cells and "-0.25" in cells
    from bench.data.csvcells import read_csv

    assert list(read_csv(out / "metrics.csv")["class"]) == list(rows["class"])


def test_demo_refuses_a_leaderboard_folder_of_the_users_before_it_runs(capsys, tmp_path,
                                                                       monkeypatch):
    import bench.run.runner

    started = []
    monkeypatch.setattr(bench.run.runner, "Runner", lambda *a, **k: started.append(a))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("the user's page")
    result = call_cli(capsys, "demo", "--out", str(tmp_path / "run"), "--leaderboard",
                      str(mine))
    assert result.returncode == 2 and "not written by synth2seg" in result.stderr
    assert not started and (mine / "index.html").read_text() == "the user's page"


@pytest.mark.parametrize("name", [".", "..", "..."])
def test_config_name_of_only_dots_is_refused(name):
    from bench.api.errors import ConfigError
    from bench.run.config import load_config

    with pytest.raises(ConfigError, match="name"):
        load_config({"name": name})
    assert load_config({"name": "v1.2"}).name == "v1.2"
