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
