"""The leaderboard's static ``index.html``: a sortable table and the figures, no server needed.

The table is built in the browser from JSON embedded in the page, so the page is one file with
no external scripts; clicking a column header sorts by it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

SCRIPT = """
const data = JSON.parse(document.getElementById('board-data').textContent);
const table = document.getElementById('board');
let sortKey = 'rank', ascending = true;
function fmt(v) { return typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : v; }
function render() {
  const rows = [...data.rows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (ascending ? 1 : -1);
  });
  const head = '<thead><tr>' + data.columns.map(c =>
    `<th data-key="${c}">${c}${c === sortKey ? (ascending ? ' ▲' : ' ▼') : ''}</th>`).join('')
    + '</tr></thead>';
  const body = '<tbody>' + rows.map(r => '<tr>' + data.columns.map(c =>
    `<td>${r[c] === null ? '–' : fmt(r[c])}</td>`).join('') + '</tr>').join('') + '</tbody>';
  table.innerHTML = head + body;
  table.querySelectorAll('th').forEach(th => th.onclick = () => {
    const key = th.dataset.key;
    ascending = key === sortKey ? !ascending : true;
    sortKey = key;
    render();
  });
}
render();
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 13px; }
"""


def write_index(path: Path, board: pd.DataFrame, per_test: dict, files: dict[str, Path],
                config: dict, primary: str, baseline: str | None,
                fidelity: pd.DataFrame | None = None, notes: dict[str, str] | None = None,
                protocol: pd.DataFrame | None = None) -> Path:
    records = json.loads(board.to_json(orient="records"))
    payload = json.dumps({"columns": list(board.columns), "rows": records})
    name = html.escape(str(config.get("name", "leaderboard")))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{name}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{name}</h1>",
             f"<p class='note'>{len(board)} methods. Rank: mean rank of {primary} over every "
             "test case (1 = best). Means and standard deviations are over cases. Click a "
             "column to sort.</p>",
             "<table id='board'></table>",
             f"<script type='application/json' id='board-data'>{_safe_json(payload)}</script>",
             f"<script>{SCRIPT}</script>"]
    for test_set, result in per_test.items():
        parts.append(f"<h2>{html.escape(test_set)}</h2>")
        if "friedman" in result:
            f = result["friedman"]
            parts.append(f"<p>Friedman over {f.blocks} cases, {f.methods} methods: "
                         f"χ² = {f.statistic:.3f}, p = {f.p_value:.3g}; Nemenyi critical "
                         f"difference {f.critical_difference:.3f}.</p>")
        for key in (f"cd_{test_set}.png", f"signs_{test_set}.png"):
            if key in files:
                parts.append(f"<img src='{key}' alt='{html.escape(key)}'>")
        if "paired" in result and baseline:
            parts.append(f"<p>Paired tests against <code>{html.escape(baseline)}</code>: "
                         f"<a href='paired_{html.escape(test_set)}.csv'>CSV</a></p>")
    if fidelity is not None and not fidelity.empty:
        parts += _fidelity_html(fidelity, notes or {})
        if protocol is not None and len(protocol):
            parts += _protocol_html(protocol)
    parts.append("<h2>Figures</h2>")
    for key in (f"{primary}_vs_count.png", "samples.png"):
        if key in files:
            parts.append(f"<img src='{key}' alt='{html.escape(key)}'>")
    links = " · ".join(f"<a href='{html.escape(k)}'>{html.escape(k)}</a>"
                       for k in sorted(files) if k.endswith((".csv", ".md")))
    parts.append(f"<h2>Files</h2><p>{links}</p></body></html>")
    Path(path).write_text("\n".join(parts))
    return Path(path)


def _fidelity_html(summary: pd.DataFrame, notes: dict[str, str]) -> list[str]:
    from bench.fidelity import METRICS

    head = "".join(f"<th title='{html.escape(METRICS.get(m, m))}'>{html.escape(m)}</th>"
                   for m in summary.columns)
    rows = []
    for (generator, count), row in summary.iterrows():
        cells = "".join(f"<td>{html.escape(v) if isinstance(v, str) else f'{v:.4g}'}</td>"
                        for v in row)
        rows.append(f"<tr><td>{html.escape(str(generator))}</td><td>{count}</td>{cells}</tr>")
    parts = ["<h2>Generated samples</h2>",
             "<p class='note'>Fidelity, diversity, alignment and memorisation per generator "
             "and count (means over seeds); hover a column for its meaning.</p>",
             f"<table id='fidelity'><thead><tr><th>generator</th><th>n</th>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>"]
    if notes:
        items = "".join(f"<li><code>{html.escape(m)}</code>: {html.escape(n)}</li>"
                        for m, n in notes.items())
        parts.append(f"<p class='note'>Unavailable (n/a):</p><ul class='note'>{items}</ul>")
    return parts


def _protocol_html(protocol: pd.DataFrame) -> list[str]:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in protocol.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in protocol.itertuples(index=False))
    return ["<p class='note'>How the distribution metrics were measured (n: real/synthetic "
            "images compared, over views; floor n: images per real half):</p>",
            f"<table id='fidelity-protocol'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"]


def _safe_json(text: str) -> str:
    return text.replace("</", "<\\/")
