"""Headless Chromium for page tests: open a copy of a page with a probe script, read what the
probe found back from the DOM (``--dump-dom``), take screenshots."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# runs before the page's own script: collects uncaught errors and console.error calls
CAPTURE = """
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)));
window.addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); __consoleError(...args); };
"""

# runs after the page's script and a pause (images' error events are asynchronous)
PROBE = """
setTimeout(() => {
  const out = {};
  try { (function () { %s })(); } catch (e) { out.probe_error = String(e); }
  out.errors = window.__errors;
  out.title = document.title;
  out.pwned = window.__pwned === undefined ? null : String(window.__pwned);
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 800);
"""


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("SYNTH2SEG_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (SYNTH2SEG_REQUIRE_BROWSER is set)")
        pytest.skip("chromium not installed (CI installs Debian's chromium)")
    return browser


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def probe(page: Path, script: str, profile: Path) -> dict:
    """Open a copy of ``page`` (beside it, so relative links resolve) with ``script`` run after
    the page's own; the script fills ``out``. Returns ``out`` with errors, title and pwned."""
    text = Path(page).read_text()
    assert text.count("<head>") == 1 and text.count("</body>") == 1
    text = text.replace("<head>", f"<head><script>{CAPTURE}</script>", 1)
    text = text.replace("</body>", f"<script>{PROBE % script}</script></body>", 1)
    copy = Path(page).with_name(f"probe-{Path(page).name}")
    copy.write_text(text)
    try:
        result = _run(["--virtual-time-budget=5000", "--dump-dom", copy.as_uri()], profile)
    finally:
        copy.unlink()
    dom = result.stdout
    assert '<pre id="probe-result">' in dom, result.stderr[-3000:]
    found = dom.split('<pre id="probe-result">', 1)[1].split("</pre>", 1)[0]
    return json.loads(html.unescape(found))


def screenshot(page: Path, out: Path, profile: Path, size: str = "1400,2000") -> Path:
    _run([f"--window-size={size}", f"--screenshot={out}", "--virtual-time-budget=3000",
          Path(page).as_uri()], profile)
    return out
