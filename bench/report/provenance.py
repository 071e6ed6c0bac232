"""Which generators a leaderboard compares: name, version, preset or fitted folder, and the data
a fitted one learned from, read from the run's manifest, so a row traces back to the model that
made its samples (a reader of the demo sees that its generators were fitted at a demo budget)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.markup import esc, md

COLUMNS = ["generator", "name", "version", "preset", "made", "identity"]


def generator_table(manifest: dict) -> pd.DataFrame:
    """One row per generator of the run (``none`` has none); empty for stores that predate
    the record."""
    rows = []
    for g in manifest.get("components", {}).get("generators", []):
        if g.get("fitted"):
            recorded = g.get("params", {})
            overrides = recorded.get("params") or {}
            made = (f"fitted: {Path(g['source']).name}/ (seed {recorded.get('seed')}, on data "
                    f"{recorded.get('data')}" + (f", with {overrides}" if overrides else "")
                    + ")")
        elif g.get("source"):
            made = f"read from {Path(g['source']).name}/ (content {g.get('content')})"
        else:
            made = "fitted in this run"
        rows.append({"generator": g.get("label", g["name"]), "name": g["name"],
                     "version": g["version"], "preset": g.get("preset") or "–", "made": made,
                     "identity": g["identity"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def provenance_markdown(table: pd.DataFrame | None) -> list[str]:
    if table is None or table.empty:
        return []
    lines = ["", "## Generators", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return lines


def provenance_html(table: pd.DataFrame | None) -> list[str]:
    if table is None or table.empty:
        return []
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return ["<h2>Generators</h2>",
            "<p class='note'>Each generator's preset (its training budget) and where its model "
            "comes from; a fitted folder names the data fingerprint it learned from.</p>",
            f"<table id='generators'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"]
