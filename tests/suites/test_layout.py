"""The layout's rules (ARCHITECTURE.md), checked on the source: every layer imports only its own
and the layers below it (api → data → metrics, generators, segmenters → fidelity → run → report →
replicate → cli), the harness reaches generators and segmenters only through the registry (the
paper scripts of bench.replicate aside), and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "generators", "segmenters", "metrics")
MAX_LINES = 400

# which synth2seg modules each part may import (besides its own package)
_PLUGIN = ("bench.api", "bench.data")
_FIDELITY = (*_PLUGIN, "metrics")
_RUN = (*_FIDELITY, "bench.fidelity")
_REPORT = (*_RUN, "bench.run")
_REPLICATE = (*_REPORT, "bench.report", "generators", "segmenters")
ALLOWED = {
    "bench.api": (),
    "bench.data": ("bench.api",),
    "metrics": _PLUGIN,
    "generators": _PLUGIN,
    "segmenters": _PLUGIN,
    "bench.fidelity": _FIDELITY,
    "bench.run": _RUN,
    "bench.report": _REPORT,
    "bench.replicate": _REPLICATE,
    "bench.cli": (*_REPLICATE, "bench.replicate", "bench.testing"),
    "bench.testing": (*_REPLICATE, "bench.replicate", "bench.cli"),  # helpers for adapter tests
}


def _modules(part: str) -> list[Path]:
    path = ROOT / part.replace(".", "/")
    if path.with_suffix(".py").is_file():
        return [path.with_suffix(".py")]
    return sorted(p for p in path.rglob("*.py") if "benchmarks" not in p.parts)


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


def test_every_module_of_the_harness_has_a_layer():
    layered = {p for part in ALLOWED for p in _modules(part)}
    missing = [str(p.relative_to(ROOT)) for part in PACKAGES for p in _modules(part)
               if p not in layered and p != ROOT / "bench" / "__init__.py"]
    assert not missing, f"modules in no layer of ALLOWED: {missing}"


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
