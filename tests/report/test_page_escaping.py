"""Issue 21, defect 3: user-supplied text (generator labels, test-set names, metric names) can
never become markup or script in index.html, nor break leaderboard.md's tables."""

import re

import pytest

from bench.report.leaderboard import write_report
from tests.browser import probe
from tests.fake_runs import write_fake_run

PAYLOAD = "m|sg <img src=x onerror=\"window.__pwned='label';document.title='pwned'\">"
TEST_SET = "<svg onload=\"window.__pwned='test set'\">site|B"
METRIC = "dice\"><img src=x onerror=\"window.__pwned='metric'\">"


@pytest.fixture(scope="module")
def hostile_board(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    run = write_fake_run(root / "run", {"b-sg": 0.05, PAYLOAD: 0.0, "c-sg": -0.03},
                         test_sets=("heldout", TEST_SET), metrics=(METRIC, "hd95"),
                         seeds=(0,), cases=6)
    return write_report(run, root / "board")


def test_defect3_script_injection_runs_nothing_in_chromium(hostile_board, tmp_path):
    """A label, a test-set name and a metric name that are HTML with event handlers: the page
    shows them as text, and nothing of them runs (no handler sets the title or a global)."""
    found = probe(hostile_board["index.html"], """
        out.texts = [...document.querySelectorAll('td, th, h2, button')].map(e => e.textContent);
        out.images = [...document.querySelectorAll('img')].map(i => i.getAttribute('src')
                                                                     .slice(0, 11));
        out.svgs = document.querySelectorAll('svg').length;
    """, tmp_path / "profile")
    assert found["pwned"] is None, f"injected script ran: {found['pwned']}"
    assert found["title"] == "fake" and found["errors"] == [] and "probe_error" not in found
    assert found["svgs"] == 0 and set(found["images"]) == {"data:image/"}  # figures only
    texts = " ".join(found["texts"])
    assert PAYLOAD in texts and TEST_SET in texts and METRIC in texts  # shown, as text


def test_defect3_markdown_keeps_its_tables_and_holds_no_raw_html(hostile_board):
    text = hostile_board["leaderboard.md"].read_text()
    assert "<img" not in text and "<svg" not in text
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("|")]
    # leaderboard, baseline per test set (2), cost, per class, fidelity-utility, samples
    assert len(tables) == 7
    assert any("m\\|sg" in row for table in tables for row in table)
    for rows in tables:
        cells = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}  # unescaped pipes per row
        assert len(cells) == 1, f"a row has another number of cells than its header: {rows}"


def test_defect3_file_names_stay_inside_the_leaderboard_folder(hostile_board):
    folder = hostile_board["index.html"].parent
    for path in hostile_board.values():
        parts = path.relative_to(folder).parts  # raises if outside
        assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", p) and p != ".." for p in parts), path
