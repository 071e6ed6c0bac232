"""User-supplied text (generator labels, test-set names, metric names) made safe to print.

Labels come from users' configs and folders, so they may hold anything: ``|`` would split a
Markdown table cell, ``<img onerror=...>`` would run in a browser that shows the Markdown or the
HTML page, ``../`` in a file name would write outside the leaderboard folder.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import tempfile
from pathlib import Path

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(value) -> str:
    """Text for a Markdown table cell or paragraph: no table break, no markup, no raw HTML."""
    text = " ".join(str(value).split())  # a newline would end the table row
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def esc(value) -> str:
    """Text for HTML content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def file_part(value) -> str:
    """A user-supplied name as part of a file name inside the leaderboard folder. A name that is
    safe already is its own file name; any other gets a hash of itself, so that two names never
    share a file ("site B" and "site_B", "a:b" and "a_b")."""
    text = str(value)
    part = re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip(".")
    if part and part == text:
        return part
    return f"{part or '_'}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def portable(text) -> str:
    """Text for a published file with this machine's folders named as placeholders: the torch
    hub (``$TORCH_HOME/hub``), the temporary folder (``$TMPDIR``) and the home folder (``~``).
    A leaderboard is read on other machines; ``/root/.cache/...`` helps none of them."""
    text = str(text)
    torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".cache" / "torch")
    for folder, name in ((torch_home, "$TORCH_HOME"), (tempfile.gettempdir(), "$TMPDIR"),
                         (str(Path.home()), "~")):
        if folder and folder != "/":
            text = re.sub(re.escape(folder.rstrip("/")) + r"(?=/|\b|$)", name, text)
    return text
