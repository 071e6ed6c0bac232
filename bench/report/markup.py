"""User-supplied text (generator labels, test-set names, metric names) made safe to print.

Labels come from users' configs and folders, so they may hold anything: ``|`` would split a
Markdown table cell, ``<img onerror=...>`` would run in a browser that shows the Markdown or the
HTML page, ``../`` in a file name would write outside the leaderboard folder.
"""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(value) -> str:
    """Text for a Markdown table cell or paragraph: no table break, no markup, no raw HTML."""
    text = " ".join(str(value).split())  # a newline would end the table row
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def esc(value) -> str:
    """Text for HTML content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def file_part(value) -> str:
    """A user-supplied name as part of a file name inside the leaderboard folder."""
    part = re.sub(r"[^A-Za-z0-9_.-]", "_", str(value)).strip(".")
    return part or "_"
