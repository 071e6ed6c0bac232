"""The command line as a user runs it."""

import filecmp

from tests.conftest import run_cli


def _same_tree(a, b) -> bool:
    compare = filecmp.dircmp(a, b)
    files = [p.relative_to(a) for p in a.rglob("*") if p.is_file()]
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    return not (mismatch or errors or compare.left_only or compare.right_only) and match


def test_phantom_export_checks_and_is_byte_identical_twice(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        result = run_cli("data", "phantom", "--out", str(out), "--subjects", "2", "--seed", "5")
        assert result.returncode == 0, result.stderr
    assert _same_tree(first, second)
    check = run_cli("data", "check", str(first))
    assert check.returncode == 0, check.stderr
    assert "2 cases" in check.stdout and "phantomA_s5_001" in check.stdout


def test_data_show_writes_a_png(phantom_dir, tmp_path):
    out = tmp_path / "montage.png"
    result = run_cli("data", "show", str(phantom_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_lists_the_command_groups():
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("data", "generator", "train", "run", "status", "report", "stats", "list"):
        assert group in result.stdout


def test_bad_phantom_option_is_one_line(tmp_path):
    result = run_cli("data", "phantom", "--out", str(tmp_path / "x"), "--site", "D")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: phantom option 'site': Input should be 'A', 'B' or 'C'")


def test_user_text_is_printed_as_it_is(tmp_path, capsys):
    """Rich read user text as markup and emoji codes: 'phantom:A:3' printed as 'phantom🅰3' and
    a method named '[red]x' lost its brackets. Names come back verbatim."""
    import pandas as pd

    from tests.conftest import call_cli

    names = ["phantom:A:3 [red]x[/]", ":a: [bold]b", "c :smile:"]
    rows = [{"method": m, "case": c, "score": 0.5 + 0.1 * i + 0.01 * c}
            for i, m in enumerate(names) for c in range(4)]
    pd.DataFrame(rows).to_csv(tmp_path / "scores.csv", index=False)
    result = call_cli(capsys, "stats", str(tmp_path / "scores.csv"))
    assert result.returncode == 0, result.stderr
    for name in names:
        assert name in result.stdout
    assert "🅰" not in result.stdout and "😄" not in result.stdout


def test_a_check_table_shows_its_title_and_details_verbatim():
    """`generator check`'s title holds the dataset spec; rich turned 'phantom:A:3' into
    'phantom🅰3' even on a console that reads markup (as bench.testing's does)."""
    import io

    from rich.console import Console

    from bench.cli.check import results_table
    from bench.run.generator_conformance import Result

    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(results_table([Result("fit", False, "[red]x[/] :smile:")],
                                "generator b-sg on phantom:A:3"))
    text = console.file.getvalue()
    assert "phantom:A:3" in text and "[red]x[/] :smile:" in text


def test_report_ends_with_the_ranking_not_the_whole_markdown(tmp_path, capsys):
    """One line per method and where the page is; the statistics stay in leaderboard.md."""
    from tests.conftest import call_cli
    from tests.fake_runs import write_fake_run

    run = write_fake_run(tmp_path / "run", {f"G{i}": 0.01 * i for i in range(14)})
    result = call_cli(capsys, "report", str(run), "--out", str(tmp_path / "board"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) <= 16 and "index.html" in lines[-1]
    assert lines[0].startswith("ranking by dice") and "… and 3 more methods" in result.stdout
    assert "G13 n=10" in lines[1]  # the best first
    assert "## " not in result.stdout and "|---" not in result.stdout
