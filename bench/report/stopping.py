"""Why each cell stopped training: at a validation plateau, or at its step cap.

Segmenters train to a plateau (``patience`` validations in a row without a better Dice) with a
cap of steps. A cell that the cap stops while it still improves is compared before its plateau:
two arms may then differ by how fast they learn, not by where they end. The leaderboard shows
the share of such cells, per method and training stage, from the record each cell's segmenter
keeps (``TrainedModel.info["training"]``, stored with the cell; cells written before it was
recorded, or by a segmenter that keeps none, count as "not recorded").
"""

from __future__ import annotations

import json

import pandas as pd

from bench.report.markup import esc, md

COLUMNS = ["method", "stage", "cells", "steps", "cap", "patience", "plateau", "at_cap",
           "stale_at_cap", "best_val_dice"]


def records(cells: pd.DataFrame) -> list[tuple[str, list[dict] | None]]:
    """(method, the stages' records or None) per finished cell, in the store's order."""
    done = cells[cells.status == "done"]
    column = done["training"] if "training" in done.columns else pd.Series(None, index=done.index)
    return [(method, json.loads(text) if isinstance(text, str) else None)
            for method, text in zip(done.method, column, strict=True)]


def with_stop_columns(cells: pd.DataFrame) -> pd.DataFrame:
    """cells.csv's rows with ``steps`` and ``stopped`` per stage, joined by '+' (a pre-training
    then fine-tuning cell reads e.g. ``400+250`` and ``cap+plateau``); empty where not recorded."""
    out = cells.copy()
    stages = {}
    if "training" in cells.columns:
        stages = {i: json.loads(t) for i, t in cells.training.items() if isinstance(t, str)}
    out["steps"] = [_join(stages.get(i), "steps") for i in cells.index]
    out["stopped"] = [_join(stages.get(i), "stopped") for i in cells.index]
    return out


def _join(stages: list[dict] | None, key: str) -> str | None:
    return None if not stages else "+".join(str(s[key]) for s in stages)


def stopping(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method and stage: cells recorded, steps trained (range), cap, how many stopped at a
    plateau and how many at the cap, the validations without gain of those at the cap (range)
    and the mean best validation Dice."""
    rows: dict[tuple[str, str], list[dict]] = {}
    for method, stages in records(cells):
        for stage in stages or ():
            rows.setdefault((method, stage["stage"]), []).append(stage)
    out = []
    for (method, stage), found in rows.items():
        capped = [s for s in found if s["stopped"] == "cap"]
        stale = [s["stale"] for s in capped if s.get("stale") is not None]
        best = [s["best_val_dice"] for s in found if s.get("best_val_dice") is not None]
        out.append({"method": method, "stage": stage, "cells": len(found),
                    "steps": _range([s["steps"] for s in found]),
                    "cap": _range([s["cap"] for s in found]),
                    "patience": _range([s["patience"] for s in found]),
                    "plateau": len(found) - len(capped), "at_cap": len(capped),
                    "stale_at_cap": _range(stale) if stale else None,
                    "best_val_dice": sum(best) / len(best) if best else None})
    return pd.DataFrame(out, columns=COLUMNS)


def _range(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def stop_summary(cells: pd.DataFrame) -> str:
    """One sentence: how many finished cells a cap stopped before a plateau (in any stage), how
    many reached one, how many trained a fixed schedule and how many keep no record."""
    found = records(cells)
    recorded = [stages for _, stages in found if stages]
    missing = len(found) - len(recorded)
    tail = f" {missing} of {len(found)} cells have no record (written before synth2seg " \
           "recorded it, or by a segmenter that keeps none)." if missing else ""
    if not recorded:
        return f"Not recorded for any of the {len(found)} cells." if found else ""
    early = sum(1 for stages in recorded
                if any(s["stopped"] == "cap" and _ruled(s) for s in stages))
    fixed = sum(1 for stages in recorded if all(not _ruled(s) for s in stages))
    plateau = len(recorded) - early - fixed
    parts = [f"{plateau} of {len(recorded)} cells reached a validation plateau in every stage"]
    if early:
        parts.append(f"{early} stopped at a step cap before a plateau in at least one stage "
                     "(fewer validations without gain than the patience): those are compared "
                     "at equal steps, not at convergence")
    if fixed:
        parts.append(f"{fixed} trained a fixed number of steps (no plateau rule, or no "
                     "validation data to apply it)")
    return "Training stop: " + "; ".join(parts) + "." + tail


def _text(value) -> str:
    return "–" if value is None or pd.isna(value) else str(value)


def _ruled(stage: dict) -> bool:
    """Whether a plateau could have stopped the stage: a patience and validation scores."""
    return bool(stage["patience"]) and stage.get("best_val_dice") is not None


HEADER = ("method", "stage", "cells", "steps", "cap", "patience", "at plateau", "at cap",
          "validations without gain at cap", "best validation Dice")


def _row(r) -> tuple:
    best = "–" if pd.isna(r.best_val_dice) else f"{r.best_val_dice:.3f}"
    return (r.method, r.stage, r.cells, r.steps, r.cap, r.patience, r.plateau, r.at_cap,
            _text(r.stale_at_cap), best)


def stopping_markdown(table: pd.DataFrame, sentence: str) -> list[str]:
    if not sentence:
        return []
    lines = ["", "## Training stop", "", sentence]
    if table.empty:
        return lines
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(md(c) for c in _row(r)) + " |"
              for r in table.itertuples(index=False)]
    return lines


def stopping_html(table: pd.DataFrame, sentence: str) -> list[str]:
    if not sentence:
        return []
    parts = ["<h2>Training stop</h2>", f"<p class='note'>{esc(sentence)}</p>"]
    if table.empty:
        return parts
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _row(r)) + "</tr>"
                   for r in table.itertuples(index=False))
    return parts + [f"<table id='training-stop'><thead><tr>{head}</tr></thead>"
                    f"<tbody>{rows}</tbody></table>"]
