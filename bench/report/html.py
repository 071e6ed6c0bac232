"""The leaderboard's ``index.html``: one self-contained file, readable without a server.

One tab per test set, each a table with grouped column headers (method, each metric's mean and
95% interval, the comparison with the baseline, fidelity), the best value per column marked,
sortable by any column and filtered by generator, strategy and segmenter; below it the test set's
statistics and figures with captions. Figures are embedded as data URIs, so the file can be
mailed or attached to a paper's supplement and still show everything.

Everything user-supplied (labels, test-set names, metric names) reaches the page either escaped
by Python or as JSON that the script puts into the page with ``textContent``: no ``innerHTML``,
so a label can never become markup or script.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pandas as pd

from bench.fidelity.catalogue import METRICS
from bench.report.columns import COST_COLUMNS
from bench.report.lesion_strata import strata_html
from bench.report.markdown import INTERVALS, VERDICT_RULE, interval_text
from bench.report.markup import esc, file_part
from bench.report.provenance import provenance_html
from bench.report.real_equivalence import equivalence_text, sort_value
from bench.report.stopping import stopping_html
from bench.report.tables import spec_of
from bench.report.value import Leaderboard

SCRIPT = r"""
const boards = JSON.parse(document.getElementById('board-data').textContent);
const filters = {generator: '', strategy: '', segmenter: ''};
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
function visible(row) {
  return Object.entries(filters).every(([k, v]) => v === '' || row.filter[k] === v);
}
function renderTable(board) {
  const table = document.getElementById(board.id);
  table.replaceChildren();
  const thead = el('thead');
  const groups = el('tr');
  for (const g of board.groups) {
    groups.appendChild(el('th', {colspan: g.span, class: 'group'}, g.label));
  }
  const heads = el('tr');
  board.columns.forEach((c, i) => {
    const arrow = board.sortKey === i ? (board.ascending ? ' ▲' : ' ▼') : '';
    const th = el('th', {title: c.title || c.label, 'data-col': String(i)}, c.label + arrow);
    th.addEventListener('click', () => {
      board.ascending = board.sortKey === i ? !board.ascending : c.better !== 'high';
      board.sortKey = i;
      renderTable(board);
    });
    heads.appendChild(th);
  });
  thead.append(groups, heads);
  const rows = board.rows.filter(visible);
  const key = board.sortKey, sign = board.ascending ? 1 : -1;
  rows.sort((a, b) => {
    const x = a.sort[key], y = b.sort[key];
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * sign;
  });
  const tbody = el('tbody');
  for (const r of rows) {
    const tr = document.createElement('tr');
    r.cells.forEach((text, i) => {
      const td = el('td', r.best[i] ? {class: 'best', title: 'best in this column'} : {}, text);
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  table.append(thead, tbody);
  document.getElementById(board.id + '-count').textContent =
    rows.length + ' of ' + board.rows.length + ' methods shown';
}
function renderAll() { boards.forEach(renderTable); }
for (const name of Object.keys(filters)) {
  const select = document.getElementById('filter-' + name);
  const values = [...new Set(boards.flatMap(b => b.rows.map(r => r.filter[name])))].sort();
  select.appendChild(el('option', {value: ''}, 'all'));
  for (const v of values) select.appendChild(el('option', {value: v}, v));
  select.addEventListener('change', () => { filters[name] = select.value; renderAll(); });
}
function showTab(index) {
  document.querySelectorAll('.tab').forEach((t, i) => t.classList.toggle('active', i === index));
  document.querySelectorAll('.panel').forEach((p, i) => p.hidden = i !== index);
}
document.querySelectorAll('.tab').forEach((t, i) => t.addEventListener('click', () => showTab(i)));
showTab(0);
renderAll();
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; max-width: 1500px; }
h1 { margin-bottom: 0.2em; }
.note { color: #555; font-size: 13px; max-width: 70em; }
.controls { margin: 1em 0; display: flex; gap: 1.5em; font-size: 14px; flex-wrap: wrap; }
.tabs { display: flex; gap: 0.3em; border-bottom: 2px solid #446; margin-top: 1em; }
.tab { border: 1px solid #aab; border-bottom: none; background: #eef; padding: 0.4em 1em;
       cursor: pointer; font-size: 14px; border-radius: 4px 4px 0 0; }
.tab.active { background: #446; color: white; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f0f4; cursor: pointer; }
th.group { background: #dde; cursor: default; text-align: center; }
td:nth-child(3) { text-align: left; white-space: normal; min-width: 18em; }
td:nth-child(4) { text-align: left; }
td.best { font-weight: bold; background: #e3f4e3; }
figure { display: inline-block; margin: 0.8em 1.5em 0.8em 0; vertical-align: top;
         max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 12.5px; color: #444; max-width: 46em; }
"""

# (board column suffix, label, metric direction) of the baseline comparison, primary metric only
BASELINE_COLUMNS = [("verdict", "verdict", None), ("difference", "Δ", None),
                    ("mde", "MDE", None), ("p_holm", "p (Holm)", None),
                    ("cliffs_delta", "Cliff's δ", "high"), ("p_worse", "P(worse)", "low"),
                    ("p_equivalent", "P(equiv.)", None), ("p_better", "P(better)", "high")]
IDENTITY = [("rank", "mean rank", "low"), ("keeps_rank", "keeps rank", "high"),
            ("method", "method", None), ("generator", "generator", None),
            ("count", "n", None), ("strategy", "strategy", None), ("augment", "aug.", None),
            ("segmenter", "segmenter", None), ("seeds", "seeds", None)]


def write_index(value: Leaderboard, path: Path, files: dict[str, Path]) -> Path:
    board, per_test, primary, baseline = value.board, value.per_test, value.primary, value.baseline
    fidelity, notes, protocol, strata, generators = (value.fidelity, value.notes, value.protocol,
                                                     value.strata, value.generators)
    owned = _test_set_metrics(board, per_test)
    tests = list(owned)
    boards = [_board_spec(f"board-{i}", board, test_set, per_test.get(test_set, {}), primary,
                          owned[test_set]) for i, test_set in enumerate(tests)]
    name = esc(value.name)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{name}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{name}</h1>",
             f"<p class='note'>{len(board)} methods. <b>Mean rank</b>: mean rank of "
             f"{esc(primary)} over every test case of every test set (1 = best); <b>keeps "
             "rank</b>: the share of bootstrap resamples of the cases that give the method the "
             f"same place. {esc(INTERVALS)} "
             "The best value of each column is in <b>bold green</b>. Click a column to "
             "sort; the filters apply to every tab."
             + (f" The baseline is <b>{esc(baseline)}</b>." if baseline else "") + "</p>",
             "<div class='controls'>"
             + "".join(f"<label>{k} <select id='filter-{k}'></select></label>"
                       for k in ("generator", "strategy", "segmenter")) + "</div>",
             "<div class='tabs'>" + "".join(f"<button class='tab'>{esc(t)}</button>"
                                            for t in tests) + "</div>"]
    for spec, test_set in zip(boards, tests, strict=True):
        parts += [f"<section class='panel' id='panel-{spec['id']}'>",
                  f"<h2>{esc(test_set)}</h2>",
                  f"<p class='note' id='{spec['id']}-count'></p>",
                  f"<div class='scroll'><table id='{spec['id']}'></table></div>"]
        parts += _statistics_html(test_set, per_test.get(test_set, {}), files, primary, baseline)
        parts.append("</section>")
    parts.append(f"<script type='application/json' id='board-data'>{_script_json(boards)}"
                 "</script>")
    if fidelity is not None and not fidelity.empty:
        parts += _fidelity_html(fidelity, notes or {})
        if protocol is not None and len(protocol):
            parts += _protocol_html(protocol)
    if strata is not None and len(strata):
        parts += strata_html(strata, primary)
    parts += stopping_html(value.stopping, value.stopping_note) + provenance_html(generators)
    parts.append("<h2>Figures</h2>")
    parts.append(_figure(files.get(f"{file_part(primary)}_vs_count.png"),
                         f"{esc(primary)} against the number of synthetic samples, per test set; "
                         "bands: 95% confidence over cases; dashed: real-only methods."))
    parts.append(_figure(files.get("fidelity_utility.png"),
                         "Does fidelity predict utility? Each synthetic method's gain over the "
                         "baseline against its sample set's fidelity metric; Spearman's ρ with a "
                         "95% bootstrap interval over methods."))
    parts.append(_figure(files.get("learning_curve.png"),
                         "Learning curve: the real-only baseline against its number of real "
                         "training cases (95% intervals; line: monotone fit); dashed: synthetic "
                         "methods, with the real cases each is worth."))
    parts.append(_figure(files.get("samples.png"),
                         "Sample grid: the first samples of each generator, masks overlaid."))
    links = " · ".join(f"<a href='{esc(p.name)}'>{esc(p.name)}</a>"
                       for k, p in sorted(files.items()) if k.endswith((".csv", ".md")))
    parts.append(f"<h2>Files</h2><p class='note'>{links}</p>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    Path(path).write_text("\n".join(p for p in parts if p))
    return Path(path)


def _test_set_metrics(board: pd.DataFrame, per_test: dict) -> dict[str, list[str]]:
    """Each test set's metrics, from the ``SET:METRIC_mean`` columns in board order. A column
    belongs to the longest test-set name it starts with, so that sets named "a" and "a:b" (or
    holding any punctuation) keep their own columns."""
    names = sorted({str(n) for n in per_test} | {c.split(":", 1)[0] for c in board.columns
                                                  if c.endswith("_mean") and ":" in c},
                   key=len, reverse=True)
    owned: dict[str, list[str]] = {}
    for column in board.columns:
        if not column.endswith("_mean") or column.startswith(("fidelity:", "cost:")):
            continue
        name = next((n for n in names if column.startswith(f"{n}:")), None)
        if name is not None:
            owned.setdefault(name, []).append(column[len(name) + 1:-len("_mean")])
    return owned


def _board_spec(table_id: str, board: pd.DataFrame, test_set: str, result: dict, primary: str,
                metrics: list[str] | None = None) -> dict:

    """What the script needs to draw one test set's table: column groups, columns, and per row
    the display text, the sort keys, the filter values and the best-in-column flags."""
    columns: list[dict] = []
    groups: list[dict] = []

    def group(label: str, items: list[dict]) -> None:
        if items:
            groups.append({"label": label, "span": len(items)})
            columns.extend(items)

    group("method", [{"key": k, "label": label, "better": better} for k, label, better in IDENTITY
                     if k in board.columns])
    if metrics is None:
        metrics = [c[len(test_set) + 1:-len("_mean")] for c in board.columns
                   if c.startswith(f"{test_set}:") and c.endswith("_mean")]
    group(f"{test_set}: mean [95% interval]",
          [{"key": f"{test_set}:{m}_mean", "label": m, "interval": True,
            "better": spec_of(m).better,
            "title": f"{m}: mean over cases and seeds, 95% t interval over seeds and cases"}
           for m in metrics])
    group(f"{test_set}: real-data equivalence", [
        {"key": c, "label": "real cases ≈", "better": None, "equiv": True,
         "title": f"{primary}: real training cases the real-only baseline needs to match it "
                  "(inverted learning curve), 95% bootstrap interval"}
        for c in board.columns if c == f"{test_set}:real_equiv"])
    group(f"{test_set}: HD95 values", [
        {"key": f"{test_set}:hd95_{kind}", "label": kind, "better": None, "title": title}
        for kind, title in (("penalised", "worst-case distance: a structure missed or invented"),
                            ("excluded", "structure absent from both masks"))
        if f"{test_set}:hd95_{kind}" in board.columns])
    paired = result.get("paired")
    if paired is not None and len(paired):
        extra = paired.set_index("method")
        board = board.assign(**{f"vs:{k}": board.method.map(extra[k]) for k, _, _ in
                                BASELINE_COLUMNS})
        group(f"vs baseline ({primary})", [{"key": f"vs:{k}", "label": label, "better": better}
                                           for k, label, better in BASELINE_COLUMNS])
    group("fidelity", [{"key": c, "label": c.split(":", 1)[1],
                        "better": spec_of(c.split(":", 1)[1]).better}
                       for c in board.columns if c.startswith("fidelity:")])
    group("cost", [{"key": c, "label": c.split(":", 1)[1], "better": None,
                    "title": COST_COLUMNS.get(c, c)}
                   for c in board.columns if c.startswith("cost:")])
    best = {i: _best(board[c["key"]], c["better"]) for i, c in enumerate(columns)
            if c["better"]}
    rows = []
    for position, (_, row) in enumerate(board.iterrows()):
        rows.append({"cells": [_display(row, c) for c in columns],
                     "sort": [sort_value(row[c["key"]]) if c.get("equiv")
                              else _sort_key(row[c["key"]]) for c in columns],
                     "best": [position in best.get(i, ()) for i in range(len(columns))],
                     "filter": {k: str(row[k]) for k in ("generator", "strategy", "segmenter")}})
    return {"id": table_id, "groups": groups,
            "columns": [{k: c.get(k) for k in ("label", "better", "title")} for c in columns],
            "rows": rows, "sortKey": 0, "ascending": True}


def _best(values: pd.Series, better: str | None) -> set[int]:
    numeric = pd.to_numeric(values, errors="coerce").reset_index(drop=True)
    if better is None or numeric.notna().sum() < 2:
        return set()
    target = numeric.max() if better == "high" else numeric.min()
    return set(numeric.index[numeric == target])


def _display(row: pd.Series, column: dict) -> str:

    value = row[column["key"]]
    if column.get("interval"):
        return interval_text(row, column["key"])
    if column.get("equiv"):
        return equivalence_text(row, column["key"])
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column["key"] == "keeps_rank":
        return f"{value:.0%}"
    if column["key"] == "rank" or column["key"].startswith("vs:"):
        return f"{value:+.3f}" if column["key"] == "vs:cliffs_delta" else f"{value:.3f}"
    if isinstance(value, float) and not float(value).is_integer():
        return f"{value:.4g}" if column["key"].startswith(("fidelity:", "cost:")) \
            else f"{value:.3f}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _sort_key(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _statistics_html(test_set: str, result: dict, files: dict[str, Path], primary: str,
                     baseline: str | None) -> list[str]:
    name = file_part(test_set)
    parts = []
    if "friedman" in result:
        parts.append(f"<p>{esc(result['friedman'].describe())}</p>")
    else:
        parts.append("<p class='note'>Too few methods or cases for the Friedman test.</p>")
    if "stability" in result:
        tau = result["stability"].tau
        finite = tau[~pd.isna(tau)]
        median = f"{float(pd.Series(finite).median()):.3f}" if len(finite) else "n/a"
        parts.append(f"<p>Rank stability: median Kendall's τ between {len(tau)} bootstrap "
                     f"rankings of the cases and the full ranking = {median}.</p>")
    if "paired" in result and baseline:
        rope = result["paired"].rope.iloc[0] if len(result["paired"]) else 0.0
        parts.append(f"<p class='note'>Against the baseline <b>{esc(baseline)}</b>: "
                     f"{esc(VERDICT_RULE.replace('*', ''))} Δ: method − baseline per case and "
                     f"seed. Cliff's δ "
                     "= P(method &gt; baseline) − P(method &lt; baseline) over case pairs "
                     "(|δ| &lt; 0.147 negligible, &lt; 0.33 small, &lt; 0.474 medium, else "
                     "large); P(worse / equivalent / better) from the Bayesian signed-rank test "
                     f"with a region of practical equivalence of ±{rope:g} {esc(primary)}. "
                     "Paired t-test and Wilcoxon p-values are in the CSV.</p>")
    captions = {
        f"cd_{name}.png": "Critical-difference diagram: mean ranks; methods joined by a bar "
                          "are not significantly different (Nemenyi).",
        f"signs_{name}.png": "Sign table (Vu et al.): + the row method ranks significantly "
                             "better than the column method, − worse, 0 no significant "
                             "difference; score = wins − losses.",
        f"rank_blobs_{name}.png": "Rank distribution over bootstrap resamples of the cases: "
                                  "disc area = share of resamples at that rank, × = rank on "
                                  "all cases, bar = 95% range.",
        f"rank_heatmap_{name}.png": "Ranking heatmap: share of test cases in which each method "
                                    "takes each rank.",
    }
    parts += [_figure(files.get(key), caption) for key, caption in captions.items()]
    return parts


def _figure(path: Path | None, caption: str) -> str:
    """A PNG embedded as a data URI, with its caption (``caption`` is already HTML)."""
    if path is None or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{esc(Path(path).name)}'>"
            f"<figcaption>{caption}</figcaption></figure>")


def _fidelity_html(summary: pd.DataFrame, notes: dict[str, str]) -> list[str]:

    head = "".join(f"<th title='{esc(METRICS.get(m, m))}'>{esc(m)}</th>"
                   for m in summary.columns)
    rows = []
    for (generator, count), row in summary.iterrows():
        cells = "".join(f"<td>{esc(v) if isinstance(v, str) else f'{v:.4g}'}</td>"
                        for v in row)
        rows.append(f"<tr><td>{esc(generator)}</td><td>{esc(count)}</td>{cells}</tr>")
    parts = ["<h2>Generated samples</h2>",
             "<p class='note'>Fidelity, diversity, alignment and memorisation per generator "
             "and count (means over seeds); hover a column for its meaning.</p>",
             f"<table id='fidelity'><thead><tr><th>generator</th><th>n</th>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>"]
    if notes:
        items = "".join(f"<li><code>{esc(m)}</code>: {esc(n)}</li>" for m, n in notes.items())
        parts.append(f"<p class='note'>Unavailable (n/a):</p><ul class='note'>{items}</ul>")
    return parts


def _protocol_html(protocol: pd.DataFrame) -> list[str]:
    head = "".join(f"<th>{esc(c)}</th>" for c in protocol.columns)
    rows = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                   for row in protocol.itertuples(index=False))
    return ["<p class='note'>How the distribution metrics were measured (n: real/synthetic "
            "images compared, over views; floor n: images per real half):</p>",
            f"<table id='fidelity-protocol'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"]


def _script_json(value) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment inside it."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
