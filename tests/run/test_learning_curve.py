"""Real-data equivalence end to end: the learning curve's config, cells, training subsets,
store rows and leaderboard columns."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pandas as pd
import pytest

from bench.api.errors import ConfigError
from bench.report.leaderboard import write_report
from bench.run.config import load_config
from bench.run.learning_curve import training_cases
from bench.run.matrix import expand
from bench.run.runner import Runner, prepare_data
from bench.run.store import Store

TINY = {"name": "curve", "dataset": "phantom:A:8:lesions",  # 5 train, 1 validation, 2 test
        "split": {"val": 0.15, "test": 0.25},
        "generators": [{"name": "none"}, {"name": "phantom-oracle"}], "counts": [2],
        "strategies": ["real", "real+synthetic"],
        "segmenters": [{"name": "unet2d", "preset": "tiny",
                        "params": {"steps": 2, "batch": 1, "val_every": 1}}],
        "metrics": ["dice"], "device": "cpu", "fidelity": {"enabled": False},
        "report": {"resamples": 100}, "learning_curve": {"train_cases": [2, 4]}}


@pytest.mark.parametrize(("sizes", "expected"), [
    ([0, 2], "whole numbers from 1"), ([2.5], "valid integer"), ([True], "valid integer"),
    ([], "at least 1 item"), ("4", "valid list")])
def test_training_set_sizes_must_be_positive_whole_numbers(sizes, expected):
    with pytest.raises(ConfigError, match=f"learning_curve.train_cases.*{expected}"):
        load_config({**TINY, "learning_curve": {"train_cases": sizes}})


def test_a_size_above_the_real_training_set_is_refused_before_anything_runs(tmp_path):
    prepare_data(load_config(TINY))  # the same data, already loaded, is checked again
    config = load_config({**TINY, "learning_curve": {"train_cases": [2, 6]}})
    with pytest.raises(ConfigError, match=r"learning_curve.train_cases: 6 is more than the 5 "):
        Runner(config, tmp_path / "run").run()
    assert not (tmp_path / "run").exists()


def test_a_learning_curve_needs_the_full_size_real_only_baseline():
    with pytest.raises(ConfigError, match="learning_curve.*add 'real' to strategies"):
        expand(load_config({**TINY, "strategies": ["real+synthetic"]}))


def test_curve_cells_are_added_without_changing_the_other_cells():
    without = expand(load_config({k: v for k, v in TINY.items() if k != "learning_curve"}))
    config = load_config({**TINY, "seeds": [0, 1], "augmentation": [False, True]})
    cells = expand(config)
    curve = [c for c in cells if c.train_cases is not None]
    assert {(c.train_cases, c.seed, c.strategy.augment) for c in curve} == {
        (n, s, a) for n in (2, 4) for s in (0, 1) for a in ("none", "default")}
    assert all(c.count == 0 and c.strategy.name == "real" for c in curve)
    assert len({c.key for c in cells}) == len(cells)
    assert len({c.method_id for c in curve}) == 4  # sizes x augmentation; seeds share one
    full = [c for c in cells if c.count == 0 and c.train_cases is None]
    assert {c.method_id for c in full}.isdisjoint(c.method_id for c in curve)
    # a config without the curve keeps its cells' keys and its config hash
    assert {c.key for c in without} <= {c.key for c in cells}
    plain = load_config({k: v for k, v in TINY.items() if k != "learning_curve"})
    assert plain.key() == load_config({**TINY, "learning_curve": None}).key()


def test_the_dry_run_lists_the_curve_and_its_methods():
    from bench.run.plan import describe

    lines = describe(load_config(TINY))
    assert "learning curve: real-only at [2, 4] real training cases (subset seed 0)" in lines
    assert "  real only (2 real cases) · real · unet2d:tiny" in lines


def test_a_smaller_training_set_is_a_seeded_nested_subset_of_the_training_cases():
    config = load_config(TINY)
    data = prepare_data(config)
    real = data.parts["real"]
    cells = {(c.train_cases, c.seed): c for c in expand(load_config({**TINY, "seeds": [0, 1]}))
             if c.train_cases}
    ids = {k: [case.id for case in training_cases(real, cell, config)]
           for k, cell in cells.items()}
    assert len(ids[(2, 0)]) == 2 and len(ids[(4, 0)]) == 4
    assert set(ids[(2, 0)]) <= set(ids[(4, 0)])  # nested within a seed
    assert ids[(4, 0)] != ids[(4, 1)]  # another seed, another draw
    assert ids == {k: [case.id for case in training_cases(real, cell, config)]
                   for k, cell in cells.items()}  # the same draw every time
    tests = {case.id for cases in data.tests.values() for case in cases}
    assert all(set(v) <= {case.id for case in real} and not set(v) & tests
               for v in ids.values())


def _cell(method, count, strategy, seed, train_cases=None):
    return SimpleNamespace(
        key=f"{method}-{seed}", method=method, seed=seed, count=count, method_id=method,
        generator=SimpleNamespace(label="oracle" if count else "none"),
        strategy=SimpleNamespace(key=strategy, augment="none"),
        segmenter=SimpleNamespace(label="unet2d:tiny"), train_cases=train_cases)


@pytest.fixture(scope="module")
def hand_board(tmp_path_factory):
    """Dice 0.5 with 2 real cases, 0.7 with 4 and 0.8 with all 8 (two seeds, nine cases)."""
    run = tmp_path_factory.mktemp("hand")
    store = Store(run / "results.sqlite")
    store.set_manifest({"config": {"name": "hand", "metrics": ["dice"],
                                   "report": {"resamples": 100}}, "real_train_cases": 8})
    arms = [("real 2", 0, "real", 0.5, 2), ("real 4", 0, "real", 0.7, 4),
            ("real only", 0, "real", 0.8, None), ("oracle n=10", 10, "real+synthetic", 0.75,
                                                   None), ("best n=10", 10, "synthetic", 0.9, None),
            ("worst n=10", 10, "synthetic", 0.3, None)]
    for method, count, strategy, dice, size in arms:
        for seed in (0, 1):
            rows = pd.DataFrame([("heldout", f"case{c}", "dice", "fg", dice + 0.01 * (c % 3 - 1))
                                 for c in range(9)],
                                columns=["test_set", "case", "metric", "class", "value"])
            store.commit_cell(_cell(method, count, strategy, seed, size), rows, time.time(),
                              "cpu")
    store.close()
    return write_report(run, run / "board")


def test_the_leaderboard_reads_a_method_off_the_hand_computed_curve(hand_board):
    """A method at 0.75 is worth 5.3 real cases (within the ROPE 0.01 at 0.74, 0.4 of the way
    from log 4 to log 8: 4 * 2 ** 0.4), one at 0.9 more than 8, one at 0.3 fewer than 2; the
    curve's own cells are not ranked."""
    board = pd.read_csv(hand_board["leaderboard.csv"]).set_index("method")
    assert set(board.index) == {"real only", "oracle n=10", "best n=10", "worst n=10"}
    assert board.loc["oracle n=10", "heldout:real_equiv"] == "5.3"
    assert board.loc["best n=10", "heldout:real_equiv"] == ">8"
    assert board.loc["best n=10", "heldout:real_equiv_ci_low"] == ">8"
    assert board.loc["worst n=10", "heldout:real_equiv_ci_high"] == "<2"
    assert pd.isna(board.loc["real only", "heldout:real_equiv"])
    curve = pd.read_csv(hand_board["learning_curve.csv"])
    assert curve.train_cases.tolist() == [2, 4, 8]
    assert curve.fitted.tolist() == pytest.approx([0.5, 0.7, 0.8])
    assert hand_board["learning_curve.png"].stat().st_size > 0
    markdown = hand_board["leaderboard.md"].read_text()
    assert "heldout:real cases ≈" in markdown and "| 5.3 [5.3, 5.3] |" in markdown
    assert "| >8 [>8, >8] |" in markdown and "## Real-data equivalence" in markdown


def test_the_page_shows_and_sorts_the_real_equivalents(hand_board, tmp_path):
    from tests.browser import probe

    found = probe(hand_board["index.html"], """
        const heads = [...document.querySelectorAll('#board-0 thead tr:nth-child(2) th')];
        const col = heads.findIndex(th => th.textContent.startsWith('real cases'));
        const texts = () => [...document.querySelectorAll('#board-0 tbody tr')]
          .map(r => r.children[col].textContent.split(' ')[0]);
        out.groups = [...document.querySelectorAll('#board-0 th.group')].map(t => t.textContent);
        heads[col].click();
        out.first = texts();
        heads[col].click();
        out.second = texts();
        out.captions = [...document.querySelectorAll('figcaption')].map(f => f.textContent);
    """, tmp_path / "profile")
    assert found["errors"] == [] and "probe_error" not in found, found
    assert "heldout: real-data equivalence" in found["groups"]
    assert found["first"] == ["<2", "5.3", ">8", "–"]  # missing last
    assert found["second"] == [">8", "5.3", "<2", "–"]
    assert any(c.startswith("Learning curve") for c in found["captions"])


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "curve"
    Runner(load_config(TINY), run_dir).run()
    return run_dir


def test_a_tiny_matrix_with_a_learning_curve_runs_its_extra_cells(curve_run):
    store = Store(curve_run / "results.sqlite")
    try:
        cells, rows = store.cells(), store.case_metrics()
        manifest = store.manifest()
    finally:
        store.close()
    assert set(cells.status) == {"done"} and len(cells) == 4
    assert sorted(cells.train_cases.dropna().astype(int)) == [2, 4]
    assert manifest["real_train_cases"] == 5
    assert set(manifest["lesion_volumes"]["volumes"]["heldout"]) == set(
        rows[rows.test_set == "heldout"].case)  # every test case's lesion volumes, for strata
    curve_cells = set(cells[cells.train_cases.notna()].key)
    assert curve_cells <= set(rows.cell)  # each has its per-case rows


def test_the_tiny_matrix_leaderboard_has_a_real_equivalent_for_the_synthetic_method(
        curve_run, tmp_path):
    files = write_report(curve_run, tmp_path / "board")
    board = pd.read_csv(files["leaderboard.csv"])
    synthetic = board[board["count"] > 0]
    assert len(synthetic) == 1 and len(board) == 2  # curve cells are not leaderboard rows
    value = synthetic["heldout:real_equiv"].iloc[0]
    assert value in ("<2", ">5") or 2 <= float(value.removeprefix("≥").split(" ")[0]) <= 5
    curve = pd.read_csv(files["learning_curve.csv"])
    assert curve.train_cases.tolist() == [2, 4, 5]  # the full training set is the last point
    strata = pd.read_csv(files["lesion_strata.csv"])  # two test cases with lesions: one stratum
    assert set(strata["class"]) == {"tumour", "oedema"} and set(strata.stratum) == {"all"}
    assert set(strata.method) == set(board.method)
    assert curve.fitted.is_monotonic_increasing
