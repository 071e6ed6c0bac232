"""The benchmark runner on the `smoke` preset: store, resume, determinism, report, browser."""

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from bench.fidelity.catalogue import PROTOCOL, FidelityOptions, Row, metric_names
from bench.fidelity.judge import FidelityJudge
from bench.report.leaderboard import write_report
from bench.run.config import GeneratorSpec, load_config, load_preset
from bench.run.matrix import expand
from bench.run.runner import Runner, prepare_data
from bench.run.store import Store
from tests.conftest import pin_weights, random_weight_files

SMOKE_CELLS = 5


def _store(run_dir):
    store = Store(run_dir / "results.sqlite")
    try:
        return store.cells(), store.case_metrics(), store.artifacts()
    finally:
        store.close()


def _rows(run_dir) -> pd.DataFrame:
    rows = _store(run_dir)[1].drop(columns=["cell"])
    return rows.sort_values(["method", "seed", "test_set", "case", "metric", "class"]) \
        .reset_index(drop=True)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    console = Console(file=io.StringIO())  # not a terminal, as in a log or a pipe
    Runner(load_preset("smoke"), run_dir, console=console).run()
    PRINTED[run_dir] = console.file.getvalue()
    return run_dir


PRINTED: dict = {}  # what the smoke run printed


def test_smoke_run_completes_every_cell(smoke_run):
    cells, rows, artifacts = _store(smoke_run)
    assert len(cells) == SMOKE_CELLS and set(cells.status) == {"done"}
    assert set(rows.test_set) == {"heldout", "siteB"}
    assert set(rows.metric) == {"dice", "precision", "recall", "accuracy", "hd95",
                                "hd95_penalised"}  # the flags that count worst-case HD95 values
    per_cell = rows.groupby("cell").size()
    assert per_cell.nunique() == 1  # every cell has the same number of rows
    assert sorted(artifacts.kind) == ["fit", "samples"]  # one generator, sampled once at n=4
    assert (artifacts.builds == 1).all()


def test_a_run_into_a_pipe_prints_one_line_per_finished_cell(smoke_run):
    """Piped, a run was silent for minutes (the progress bar draws only on a terminal)."""
    lines = [line for line in PRINTED[smoke_run].splitlines() if line.startswith("cell ")]
    assert [line.split(" done: ")[0] for line in lines] == \
        [f"cell {i}/{SMOKE_CELLS}" for i in range(1, SMOKE_CELLS + 1)]
    assert all(", seed " in line for line in lines)


def _fidelity_rowids(run_dir) -> list[int]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return [r[0] for r in db.execute("SELECT rowid FROM fidelity ORDER BY rowid")]


def test_rerun_skips_finished_cells_and_rebuilds_nothing(smoke_run):
    before = _rows(smoke_run)
    started = _store(smoke_run)[0].started.tolist()
    fidelity = _fidelity_rowids(smoke_run)
    Runner(load_preset("smoke"), smoke_run).run()
    cells, _, artifacts = _store(smoke_run)
    assert cells.started.tolist() == started
    assert (artifacts.builds == 1).all()
    assert _fidelity_rowids(smoke_run) == fidelity  # measured once, not again
    pd.testing.assert_frame_equal(_rows(smoke_run), before)


def test_killed_run_resumes_to_the_rows_of_an_uninterrupted_one(smoke_run, tmp_path):
    """SIGKILL after the first committed cell, then run again: same cells, same rows, each
    artifact built once. The second run computes every cell in other processes than the
    first, so equality also shows that two runs of one config give identical metrics."""
    run_dir = tmp_path / "killed"
    code = ("import sys; from bench.cli.main import main; sys.argv = ['synth2seg', 'run', "
            f"'--preset', 'smoke', '--out', {str(run_dir)!r}]; main()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if _done_cells(run_dir) >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= _done_cells(run_dir) < SMOKE_CELLS
    Runner(load_preset("smoke"), run_dir).run()
    cells, _, artifacts = _store(run_dir)
    assert len(cells) == SMOKE_CELLS and set(cells.status) == {"done"}
    assert (artifacts.builds == 1).all()
    pd.testing.assert_frame_equal(_rows(run_dir), _rows(smoke_run))


def _done_cells(run_dir) -> int:
    path = run_dir / "results.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute("SELECT count(*) FROM cells WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_force_redoes_cells_but_keeps_artifacts(smoke_run, tmp_path):
    run_dir = tmp_path / "forced"
    shutil.copytree(smoke_run, run_dir)
    config = load_preset("smoke")
    started = _store(run_dir)[0].started.max()
    real_only = config.model_copy(update={"strategies": ["real"],
                                          "generators": [GeneratorSpec(name="none")]})
    Runner(real_only, run_dir, force=True).run()
    cells, _, artifacts = _store(run_dir)
    assert len(cells) == 1 and cells.started.min() > started
    assert (artifacts.builds == 1).all()


def test_status_reports_cells_and_artifact_builds(smoke_run, capsys):
    from tests.conftest import call_cli

    result = call_cli(capsys, "status", str(smoke_run))
    assert result.returncode == 0, result.stderr
    assert f"{SMOKE_CELLS}/{SMOKE_CELLS} cells done, 0 failed, 0 to do" in result.stdout
    assert "built 1x" in result.stdout
    assert "segmenter unet2d (preset tiny, version" in result.stdout  # resolved params shown
    assert "steps=4" in result.stdout and "generator phantom-oracle" in result.stdout


def test_another_config_in_the_same_folder_is_refused(smoke_run):
    from bench.api.errors import ConfigError

    other = load_preset("smoke").model_copy(update={"seeds": [5]})
    with pytest.raises(ConfigError, match="holds results of another config"):
        Runner(other, smoke_run).run()


def test_ray_executor_matches_local(smoke_run, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    run_dir = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SYNTH2SEG_CACHE": os.environ["SYNTH2SEG_CACHE"]}})
    try:
        Runner(load_preset("smoke"), run_dir, executor="ray").run()
    finally:
        ray.shutdown()
    cells = _store(run_dir)[0]
    assert len(cells) == SMOKE_CELLS and set(cells.status) == {"done"}
    pd.testing.assert_frame_equal(_rows(run_dir), _rows(smoke_run))


@pytest.mark.slow
def test_a_ray_cluster_of_two_nodes_matches_a_local_run(smoke_run, tmp_path, monkeypatch):
    """A real cluster on this machine: `ray start --head` and a second node process joined to it
    over the loopback address, the run folder and the dataset cache on paths both see; the smoke
    matrix run on it gives the rows of the local run. (`make test-slow`.)"""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import socket
    import tempfile

    ray_cli = str(Path(sys.executable).parent / "ray")
    with socket.socket() as probe:  # a free port on the loopback address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths have a length limit
    common = ["--num-cpus", "2", "--disable-usage-stats", f"--temp-dir={temp}"]
    # token authentication would write a token into ~/.ray; this cluster is on loopback only
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    env = dict(os.environ)
    try:
        subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1",
                        "--port", str(port), "--include-dashboard=false", *common],
                       check=True, capture_output=True, env=env, timeout=180)
        subprocess.run([ray_cli, "start", "--address", address, "--node-ip-address",
                        "127.0.0.1", *common], check=True, capture_output=True, env=env,
                       timeout=180)
        run_dir = tmp_path / "cluster"
        Runner(load_preset("smoke"), run_dir, executor="ray", address=address).run()
        import ray

        nodes = [n for n in ray.nodes() if n["Alive"]]
        ray.shutdown()
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    assert len(nodes) == 2
    cells = _store(run_dir)[0]
    assert len(cells) == SMOKE_CELLS and set(cells.status) == {"done"}
    pd.testing.assert_frame_equal(_rows(run_dir), _rows(smoke_run))


def test_fidelity_is_measured_for_every_sample_set_and_count(smoke_run):
    store = Store(smoke_run / "results.sqlite")
    try:
        fidelity = store.fidelity()
    finally:
        store.close()
    assert len(fidelity) == 2 * len(metric_names())  # phantom-oracle at n = 2 and 4
    assert set(fidelity["count"]) == {2, 4} and set(fidelity.generator) == {"phantom-oracle"}
    rows = fidelity.set_index(["count", "metric"])
    for metric in ("fid", "kid", "lpips", "lpips_real"):  # no weights on test machines
        assert pd.isna(rows.loc[(4, metric), "value"])
        assert "not found" in rows.loc[(4, metric), "note"]
    for metric in ("fd_indomain", "kid_indomain", "ms_ssim", "ms_ssim_real", "label_share_error",
                   "label_share_error_real", "alignment_dice", "alignment_dice_real",
                   "memorisation", "nn_ratio"):
        assert pd.notna(rows.loc[(4, metric), "value"]), metric
    assert "real only · real · unet2d:tiny" in rows.loc[(4, "fd_indomain"), "note"]
    # the oracle draws new phantom subjects: as novel as held-out real ones, no copies
    assert rows.loc[(4, "memorisation"), "value"] == 0.0


def test_alignment_of_the_heldout_set_is_the_real_only_cells_dice(smoke_run):
    config = load_preset("smoke")
    store = Store(smoke_run / "results.sqlite")
    try:
        reference, _ = Runner(config, smoke_run).real_only_reference(expand(config), store,
                                                                     "cpu")
        rows = store.case_metrics()
    finally:
        store.close()
    data = prepare_data(config)
    judge = FidelityJudge(data.parts["real"], data.parts["test"], FidelityOptions(), reference)
    real = rows[(rows["count"] == 0) & (rows.metric == "dice") & (rows.test_set == "heldout")]
    expected = real.groupby("case").value.mean().mean()
    assert judge.alignment(data.parts["test"]).value == pytest.approx(expected, rel=1e-5)


def test_a_real_only_model_that_cannot_be_loaded_is_a_note_not_a_crash(smoke_run, tmp_path):
    run_dir = tmp_path / "old"
    shutil.copytree(smoke_run, run_dir)
    config = load_preset("smoke")
    real = next(c for c in expand(config) if c.count == 0)
    (run_dir / "cells" / real.key / "model" / "model.json").write_text("{}")
    (run_dir / "cells" / real.key / "sealed.json").unlink()  # older versions kept no hashes
    store = Store(run_dir / "results.sqlite")
    try:
        reference, note = Runner(config, run_dir).real_only_reference(expand(config), store,
                                                                      "cpu")
    finally:
        store.close()
    assert reference is None and "--force" in note


def _real_cell(config):
    return next(c for c in expand(config) if c.count == 0)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real-only cell of one training step: enough to damage and redo quickly."""
    from bench.run.config import load_config

    config = load_config({"name": "tiny", "dataset": "phantom:A:3",
                          "split": {"val": 0.34, "test": 0.34},
                          "segmenters": [{"name": "unet2d", "preset": "tiny",
                                          "params": {"steps": 2, "batch": 1, "val_every": 1}}],
                          "metrics": ["dice"], "device": "cpu", "fidelity": {"enabled": False}})
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    Runner(config, run_dir).run()
    return config, run_dir


def test_damaged_cell_weights_are_found_and_the_cell_trained_again(tiny_run, tmp_path):
    config, finished = tiny_run
    run_dir = tmp_path / "damaged"
    shutil.copytree(finished, run_dir)
    real = _real_cell(config)
    before, cells = _rows(run_dir), _store(run_dir)[0].set_index("key")
    best = run_dir / "cells" / real.key / "model" / "stage0_real" / "best.pt"
    size = best.stat().st_size
    _truncate(best)
    Runner(config, run_dir).run()
    after = _store(run_dir)[0].set_index("key")
    assert after.started[real.key] > cells.started[real.key], "the damaged cell was reused"
    assert best.stat().st_size == size
    pd.testing.assert_frame_equal(_rows(run_dir), before)


def test_fidelity_with_truncated_real_only_weights_is_a_note(smoke_run, tmp_path, capsys):
    from tests.conftest import call_cli

    run_dir = tmp_path / "truncated"
    shutil.copytree(smoke_run, run_dir)
    real = _real_cell(load_preset("smoke"))
    _truncate(run_dir / "cells" / real.key / "model" / "stage0_real" / "best.pt")
    result = call_cli(capsys, "fidelity", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    store = Store(run_dir / "results.sqlite")
    try:
        notes = store.fidelity().note.dropna()
    finally:
        store.close()
    assert notes.str.contains("best.pt changed since it was finished").any()


def test_force_trains_a_finished_cell_again_instead_of_resuming_at_its_end(tiny_run, tmp_path):
    """A finished cell's last.pt is at its final step: a forced redo that kept it would resume
    there, train nothing and re-score the old weights (after a code fix, the old numbers)."""
    import torch

    config, finished = tiny_run
    run_dir = tmp_path / "forced"
    shutil.copytree(finished, run_dir)
    last = run_dir / "cells" / _real_cell(config).key / "model" / "stage0_real" / "last.pt"
    torch.save({**torch.load(last, weights_only=True), "step": 10**6}, last)  # "trained" long
    Runner(config, run_dir, force=True).run()
    assert torch.load(last, weights_only=True)["step"] == 2  # the cap: trained again


def test_force_keeps_finished_rows_until_their_replacement_exists(tiny_run, tmp_path,
                                                                  monkeypatch):
    import bench.run.executors

    config, finished = tiny_run
    run_dir = tmp_path / "forced-failing"
    shutil.copytree(finished, run_dir)
    before = _rows(run_dir)

    def broken(job, data=None):
        raise RuntimeError("out of memory")
    monkeypatch.setattr(bench.run.executors, "run_cell", broken)
    Runner(config, run_dir, force=True).run()
    assert set(_store(run_dir)[0].status) == {"done"}
    pd.testing.assert_frame_equal(_rows(run_dir), before)


EXPECTED_FILES = {"leaderboard.csv", "leaderboard.md", "index.html", "friedman.csv", "cells.csv",
                  "dice_vs_count.png", "samples.png", "fidelity.csv"}


@pytest.fixture(scope="module")
def board(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("leaderboards") / "smoke"
    write_report(smoke_run, out)
    return out


def test_the_report_says_why_each_cell_stopped_training(board):
    """Each cell's segmenter record reaches the store and the leaderboard: cells.csv has the
    steps and the reason per stage, the Markdown and the page a section that counts them."""
    cells = pd.read_csv(board / "cells.csv", dtype=str, keep_default_na=False)
    assert all(set(reason.split("+")) <= {"cap", "plateau"} for reason in cells.stopped)
    assert all(steps and all(s.isdigit() for s in steps.split("+")) for steps in cells.steps)
    markdown = (board / "leaderboard.md").read_text()
    assert "## Training stop" in markdown and f"of {len(cells)} cells" in markdown
    assert "no record" not in markdown
    assert "id='training-stop'" in (board / "index.html").read_text()


def test_report_writes_every_file(board):
    names = {p.name for p in board.iterdir()}
    assert EXPECTED_FILES <= names
    for test_set in ("heldout", "siteB"):
        for kind in ("nemenyi_{}.csv", "signs_{}.csv", "paired_{}.csv", "cd_{}.png",
                     "signs_{}.png", "stability_{}.csv", "rank_blobs_{}.png",
                     "rank_heatmap_{}.png"):
            assert kind.format(test_set) in names
    table = pd.read_csv(board / "leaderboard.csv")
    assert len(table) == SMOKE_CELLS
    assert list(table["rank"]) == sorted(table["rank"])
    for column in ("heldout:dice_mean", "siteB:hd95_sd", "heldout:dice_ci_low",
                   "siteB:dice_ci_high", "keeps_rank", "generator", "count", "strategy"):
        assert column in table.columns
    text = pd.read_csv(board / "leaderboard.csv", dtype=str, keep_default_na=False)
    synthetic, real = text[text["count"] != "0"], text[text["count"] == "0"]
    assert [c for c in text.columns if c.startswith("fidelity:")] == \
        [f"fidelity:{m}" for m in metric_names()]
    assert set(synthetic["fidelity:fid"]) == {"n/a"}  # marked, not zero, not empty
    assert float(synthetic["fidelity:fd_indomain"].iloc[0]) >= 0
    assert set(real["fidelity:fid"]) == {""}  # real-only rows have no samples to judge
    markdown = (board / "leaderboard.md").read_text()
    assert "## Generated samples" in markdown and "weights-inception-2015-12-05" in markdown
    assert "id='fidelity'" in (board / "index.html").read_text()
    signs = pd.read_csv(board / "signs_heldout.csv", index_col=0, dtype=str, keep_default_na=False)
    marks = signs.drop(columns="score").to_numpy()
    assert set(marks.ravel()) <= {"+", "0", "-", ""}
    assert (marks == "").sum() == len(signs)  # only the diagonal is blank
    assert signs["score"].astype(int).sum() == 0  # every win is another method's loss


def test_report_means_match_the_store(smoke_run, board):
    rows = _store(smoke_run)[1]
    real = rows[(rows["count"] == 0) & (rows.metric == "dice") & (rows.test_set == "heldout")]
    expected = real.groupby("case").value.mean().mean()
    table = pd.read_csv(board / "leaderboard.csv").set_index("method")
    assert table.loc[real.method.iloc[0], "heldout:dice_mean"] == pytest.approx(expected, rel=1e-6)


def test_index_html_renders_every_row_in_chromium(board, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("SYNTH2SEG_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (SYNTH2SEG_REQUIRE_BROWSER is set)")
        pytest.skip("chromium not installed (CI installs Debian's chromium)")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         f"--user-data-dir={tmp_path / 'profile'}", (board / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in dom else ""
    assert body.count("<tr>") == SMOKE_CELLS, dom[:2000]
    assert "real only · real · unet2d:tiny" in body


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    return random_weight_files(tmp_path_factory.mktemp("published"))


def test_every_extractor_fetched_from_file_urls_fills_every_fidelity_and_protocol_column(
        smoke_run, weight_files, hub, monkeypatch, tmp_path):
    pinned = {key: pin_weights(monkeypatch, key, path) for key, path in weight_files.items()}
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    data = load_preset("smoke").model_dump(mode="json")
    # one plane: each 2048-d Fréchet distance costs an eigen-decomposition of 2048 x 2048
    data["fidelity"] = {"extractors": ["inception", "radimagenet", "medicalnet", "in-domain"],
                        "max_images": 4, "pairs": 5, "nearest_k": 1, "planes": ["sagittal"]}
    config = load_config(data)
    Runner(config, run_dir).fidelity()
    assert sorted(p.name for p in hub.iterdir()) == sorted(w.filename for w in pinned.values())
    board = tmp_path / "board"
    write_report(run_dir, board)
    fidelity = pd.read_csv(board / "fidelity.csv")
    names = metric_names(config.fidelity.extractors)
    assert len(fidelity) == 2 * len(names) and set(fidelity.metric) == set(names)
    # MedicalNet has one vector per volume: the smoke run's 3 real training volumes cannot make
    # two floor halves of 2, nor PRDC (k = 1 needs 3 vectors a side) at n = 2. Those, and only
    # those, are n/a, with the reason.
    too_few = fidelity.metric.str.endswith("medicalnet_floor") | (
        fidelity.metric.str.match(r"(precision|recall|density|coverage)_medicalnet")
        & (fidelity["count"] == 2))
    missing = fidelity[fidelity.value.isna()]
    assert set(missing.index) == set(fidelity[too_few].index), \
        missing[["count", "metric", "note"]].to_string()
    assert missing.note.str.startswith("not computed: need at least").all()
    distribution = fidelity[fidelity.extractor.notna() & ~fidelity.metric.str.startswith(
        ("lpips", "ms_ssim"))]
    assert len(distribution) == 2 * 4 * 8  # counts x extractors x (FD, KID, floors, PRDC)
    for column in PROTOCOL:
        assert distribution[column].notna().all(), column
    hashes = set(distribution.weights_sha256)
    assert {pinned[k].sha256 for k in ("inception", "radimagenet", "medicalnet")} < hashes
    assert pinned["alexnet"].sha256 in set(fidelity[fidelity.metric == "lpips"].weights_sha256)
    medicalnet = distribution[distribution.metric == "fid_medicalnet"]
    assert set(medicalnet.views) == {"whole volumes on the real grid"}
    assert set(medicalnet.n_fake) == {2, 4}  # volumes, one per sample
    board_text = pd.read_csv(board / "leaderboard.csv", dtype=str, keep_default_na=False)
    synthetic = board_text[board_text["count"] != "0"]
    for metric in set(names) - set(fidelity[too_few].metric):
        assert "n/a" not in set(synthetic[f"fidelity:{metric}"]), metric
    markdown, page = (board / "leaderboard.md").read_text(), (board / "index.html").read_text()
    for key in ("radimagenet", "medicalnet"):
        assert pinned[key].sha256 in markdown and pinned[key].sha256 in page
    assert "2.5D: sagittal slices" in markdown and "id='fidelity-protocol'" in page


@pytest.mark.parametrize("where", ["flag", "config"])
def test_offline_runs_never_touch_the_network_and_say_why_in_one_line(smoke_run, hub, where,
                                                                      monkeypatch, tmp_path):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("tried the network offline")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    data = load_preset("smoke").model_dump(mode="json")
    data["fidelity"] = {"extractors": ["inception"], "max_images": 4, "pairs": 5,
                        "offline": where == "config"}
    rows = Runner(load_config(data), run_dir, offline=where == "flag").fidelity()
    rows = rows[rows["count"] == 4].set_index("metric")
    for metric in ("fid", "fid_floor", "precision_inception", "lpips"):
        note = rows.loc[metric, "note"]
        assert pd.isna(rows.loc[metric, "value"]) and "offline" in note and "\n" not in note
    assert pd.notna(rows.loc["ms_ssim", "value"]) and not hub.exists()


def test_a_store_written_before_the_protocol_columns_gets_them_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:  # the fidelity table as older versions wrote it
        db.execute("CREATE TABLE fidelity (generator_key TEXT NOT NULL, generator TEXT NOT NULL, "
                   "seed INTEGER NOT NULL, count INTEGER NOT NULL, metric TEXT NOT NULL, "
                   "value REAL, note TEXT, PRIMARY KEY (generator_key, count, metric))")
        db.execute("INSERT INTO fidelity VALUES ('k', 'gen', 0, 2, 'fid', 1.5, 'old')")
    store = Store(path)
    try:
        store.record_fidelity("k", "gen", 0, 4, [Row("fid", 2.5, "new", extractor="Inception",
                                                     weights_sha256="ab" * 32, n_real=8,
                                                     n_fake=4)])
        rows = store.fidelity().set_index("count")
    finally:
        store.close()
    assert rows.loc[2, "value"] == 1.5 and pd.isna(rows.loc[2, "extractor"])
    assert rows.loc[4, "extractor"] == "Inception" and rows.loc[4, "n_real"] == 8
    assert set(PROTOCOL) <= set(rows.columns)
