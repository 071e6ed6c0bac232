"""The README and docs/ are checked like code: links lead somewhere, the commands they show exist,
and the README stays a page a newcomer reads to the end.

MkDocs (`mkdocs build --strict`, run by `make test`) checks links between pages and their
anchors; these tests also cover the README, which is not part of the site, and links from the
pages to the repository's own files (the example adapter, leaderboards/*.md), which MkDocs
cannot follow.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from bench.cli.main import app

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 200
ADAPTER = ROOT / "tests" / "fixtures" / "example_adapter" / "synth2seg_example"

FENCE = re.compile(r"^ {0,3}```[^\n]*\n(.*?)^ {0,3}```[ \t]*$", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
# `synth2seg` as a command: at the start of a line or code span, after a shell prompt, a space
# or a quote, and followed by a word (not `synth2seg.generators`, `.synth2seg-output`, ...)
COMMAND = re.compile(r"(?:^|(?<=[\s'\"(]))synth2seg[ \t]+([a-z][^\n#]*)", re.M)
OPTION = re.compile(r"^--?[A-Za-z][\w-]*$")


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def without_code(text: str) -> str:
    """The prose of a page: fenced blocks and inline code removed."""
    return INLINE.sub("", FENCE.sub("", text))


def code_snippets(text: str) -> list[str]:
    """Every fenced block's lines and every inline code span (whitespace made single spaces)."""
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    spans = [" ".join(span.split()) for span in INLINE.findall(FENCE.sub("", text))]
    return lines + spans


def slug(heading: str) -> str:
    """A heading's anchor as MkDocs (Python-Markdown's toc) and GitHub write it."""
    text = unicodedata.normalize("NFKD", heading.replace("`", "")).encode("ascii", "ignore")
    text = re.sub(r"[^\w\s-]", "", text.decode()).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def relative_links() -> list[tuple[str, str]]:
    links = []
    for page in PAGES:
        for target in LINK.findall(without_code(page.read_text())):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                links.append((name(page), target))
    return links


@pytest.mark.parametrize("page, target", relative_links())
def test_every_relative_link_points_to_a_file_that_exists(page, target):
    path, _, anchor = target.partition("#")
    resolved = (ROOT / page).parent / path if path else ROOT / page
    assert resolved.exists(), f"{page} links to {target}, but {path} does not exist"
    if anchor and resolved.suffix == ".md":
        anchors = {slug(h) for h in HEADING.findall(FENCE.sub("", resolved.read_text()))}
        assert anchor in anchors, f"{page} links to {target}, but {path} has no heading " \
                                  f"'#{anchor}' (it has: {', '.join(sorted(anchors))})"


def commands_named() -> list[tuple[str, str]]:
    return [(name(page), match.strip())
            for page in PAGES for snippet in code_snippets(page.read_text())
            for match in COMMAND.findall(snippet)]


def cli_command(words: list[str]) -> tuple[typer.core.TyperCommand, list[str], str]:
    """The click command that ``synth2seg WORDS`` runs, the words left over, and its name."""
    command, path = typer.main.get_command(app), "synth2seg"
    while isinstance(command, TyperGroup) and words:
        word = words[0].strip("'\".,;:)")
        known = command.commands
        assert word in known, f"'{path} {word}' is not a command; {path} has: " \
                              f"{', '.join(sorted(known))}"
        command, path, words = known[word], f"{path} {word}", words[1:]
    assert not isinstance(command, TyperGroup), f"'{path}' is a group: name one of its " \
                                                 f"commands ({', '.join(sorted(command.commands))})"
    return command, words, path


@pytest.mark.parametrize("page, line", commands_named())
def test_every_command_shown_in_code_is_a_real_command_with_real_options(page, line):
    command, rest, path = cli_command(line.split())
    options = {"--help"} | {opt for param in command.params
                            for opt in [*param.opts, *param.secondary_opts]}
    for word in rest:
        option = word.strip("[]'\".,;:)").split("=", 1)[0]
        if OPTION.match(option):
            assert option in options, f"{page}: '{path}' has no option {option} " \
                                      f"(it has: {', '.join(sorted(options))}) in: {line}"


def test_the_pages_name_commands_at_all():
    named = {" ".join(line.split()[:2]) for _, line in commands_named()}
    assert {"run my-study.yaml", "generator check", "replicate"} <= named, named


def test_the_readme_has_at_most_200_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference material " \
                                      f"to docs/ and link it (at most {README_MAX_LINES})"


def test_the_readme_quick_start_is_the_two_make_commands():
    quick = README.read_text().split("## Quick start", 1)[1]
    first_block = FENCE.search(quick).group(1)
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == \
        ["make demo", "make test"], first_block


@pytest.mark.parametrize("module", ["intensity.py", "nearest.py"])
def test_the_adapter_page_links_the_example_adapter_instead_of_copying_it(module):
    page = ROOT / "docs" / "adapters.md"
    text = page.read_text()
    target = f"../tests/fixtures/example_adapter/synth2seg_example/{module}"
    assert f"]({target})" in text, f"docs/adapters.md does not link {target}"
    first_class = re.search(r"^class \w+", (ADAPTER / module).read_text(), re.M).group(0)
    for copy in [README, page]:
        assert first_class not in copy.read_text(), \
            f"{name(copy)} copies {module} ({first_class}); link the file instead"
