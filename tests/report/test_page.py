"""index.html in headless Chromium: it renders without console errors, sorts, filters, switches
tabs, marks the best value per column, is self-contained; a screenshot lands in the run folder."""

import pytest

from bench.report.leaderboard import write_report
from tests.browser import probe, screenshot
from tests.fake_runs import write_fake_run

ROWS = """
const rows = id => [...document.querySelectorAll('#' + id + ' tbody tr')];
const column = (id, label) => [...document.querySelectorAll('#' + id + ' thead tr:nth-child(2) th')]
  .findIndex(th => th.textContent.startsWith(label));
const texts = (id, col) => rows(id).map(r => r.children[col].textContent);
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    run = write_fake_run(root / "run", {"b-sg": 0.05, "m-sg": 0.0, "c-sg": -0.03})
    files = write_report(run, run / "leaderboard")
    return files["index.html"]


def test_page_renders_a_tab_per_test_set_without_console_errors(board, tmp_path):
    found = probe(board, ROWS + """
        out.tabs = [...document.querySelectorAll('.tab')].map(t => t.textContent);
        out.rows = [rows('board-0').length, rows('board-1').length];
        out.groups = [...document.querySelectorAll('#board-0 th.group')].map(t => t.textContent);
        out.hidden = [...document.querySelectorAll('.panel')].map(p => p.hidden);
        document.querySelectorAll('.tab')[1].click();
        out.hidden_after = [...document.querySelectorAll('.panel')].map(p => p.hidden);
        out.figures = document.querySelectorAll('figure img').length;
        out.captions = document.querySelectorAll('figcaption').length;
        out.external = [...document.querySelectorAll('[src]')].map(e => e.getAttribute('src'))
          .filter(s => !s.startsWith('data:'));
    """, tmp_path / "profile")
    assert found["errors"] == [] and "probe_error" not in found, found
    assert found["tabs"] == ["heldout", "siteB"] and found["rows"] == [4, 4]
    assert found["groups"][0] == "method" and "heldout: mean [95% interval]" in found["groups"]
    assert "vs baseline (dice)" in found["groups"]
    assert found["hidden"] == [False, True] and found["hidden_after"] == [True, False]
    assert found["figures"] == found["captions"] >= 9  # 4 per test set and dice vs count
    assert found["external"] == []  # self-contained: no file or network reference


def test_clicking_a_header_sorts_and_clicking_again_reverses(board, tmp_path):
    found = probe(board, ROWS + """
        const col = column('board-0', 'hd95');
        const head = () => document.querySelectorAll('#board-0 thead tr:nth-child(2) th')[col];
        head().click();
        out.first = texts('board-0', col).map(parseFloat);
        head().click();
        out.second = texts('board-0', col).map(parseFloat);
        out.arrow = head().textContent;
    """, tmp_path / "profile")
    assert found["first"] == sorted(found["first"])  # hd95: lower is better, ascending first
    assert found["second"] == sorted(found["second"], reverse=True)
    assert found["first"] != found["second"] and found["arrow"].endswith("▼")


def test_filters_apply_to_every_tab(board, tmp_path):
    found = probe(board, ROWS + """
        const select = document.getElementById('filter-generator');
        out.options = [...select.options].map(o => o.value);
        select.value = 'b-sg';
        select.dispatchEvent(new Event('change'));
        const g = column('board-0', 'generator');
        out.generators = [texts('board-0', g), texts('board-1', g)];
        out.count = document.getElementById('board-0-count').textContent;
        select.value = '';
        select.dispatchEvent(new Event('change'));
        out.all = rows('board-0').length;
    """, tmp_path / "profile")
    assert found["options"] == ["", "b-sg", "c-sg", "m-sg", "real only"]
    assert found["generators"] == [["b-sg"], ["b-sg"]]
    assert found["count"] == "1 of 4 methods shown" and found["all"] == 4


def test_best_value_per_column_is_marked(board, tmp_path):
    found = probe(board, ROWS + """
        const best = id => [...document.querySelectorAll('#' + id + ' td.best')]
          .map(td => [td.cellIndex, td.parentElement.children[2].textContent]);
        out.best = best('board-0');
        out.dice = column('board-0', 'dice');
        out.hd95 = column('board-0', 'hd95');
    """, tmp_path / "profile")
    best = {}
    for index, method in found["best"]:
        best.setdefault(index, []).append(method)
    # b-sg gains 0.05 Dice on every case: the best mean rank, Dice (highest) and HD95 (lowest)
    assert best[0] == ["b-sg n=10 · real+synthetic · unet2d:tiny"]
    assert best[found["dice"]] == best[found["hd95"]] == best[0]


def test_screenshot_is_saved_in_the_run_folder(board, tmp_path):
    shot = screenshot(board, board.parent.parent / "leaderboard.png", tmp_path / "profile")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
