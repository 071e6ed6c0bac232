"""The layout's rules (ARCHITECTURE.md), checked on the source: plugins import only the contract
and the data layer, the contract imports nothing of synth2seg, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "generators", "segmenters", "metrics")
MAX_LINES = 400

# which synth2seg modules each part may import (besides its own package)
ALLOWED = {
    "generators": ("bench.api", "bench.data"),
    "segmenters": ("bench.api", "bench.data"),
    "metrics": ("bench.api", "bench.data"),
    "bench.api": (),
    "bench.data": ("bench.api",),
}


def _modules(part: str) -> list[Path]:
    folder = ROOT / part.replace(".", "/")
    return sorted(p for p in folder.rglob("*.py") if "benchmarks" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every synth2seg module ``path`` imports, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("part", list(ALLOWED))
def test_import_rule(part):
    broken = [f"{path.relative_to(ROOT)}:{line} imports {name}"
              for path in _modules(part) for line, name in _imports(path)
              if not _within(name, (part, *ALLOWED[part]))]
    assert not broken, f"{part} may import only {ALLOWED[part] or 'itself'}:\n" + "\n".join(broken)


def test_the_rule_sees_imports_inside_functions(tmp_path):
    """The check would be worthless if a function-level import slipped past it."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.run.runner import Runner\n")
    assert _imports(module) == [(2, "bench.run.runner")]


def test_no_module_is_over_the_size_limit():
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines())
             for part in PACKAGES for path in _modules(part)}
    big = {str(p): n for p, n in sizes.items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_command_line_starts_without_torch_or_monai():
    """Every CLI call imports bench.cli.main first; the contract's package must not drag torch
    and MONAI in (it did once: each call then took 10 s before doing anything)."""
    import subprocess
    import sys

    code = ("import sys, bench.cli.main, bench.api.errors; "
            "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
