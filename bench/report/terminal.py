"""What a terminal shows at the end of a report: the ranking in one line per method, not the
whole Markdown (which, with its statistics tables, runs to hundreds of lines)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.data.csvcells import read_csv

MAX_METHODS = 12


def ranking_lines(board_csv: Path, primary: str, limit: int = MAX_METHODS) -> list[str]:
    """Rank, method and the primary metric's mean per test set, best first."""
    board = read_csv(board_csv)
    means = [c for c in board.columns if c.endswith(f":{primary}_mean")]
    lines = [f"ranking by {primary} (mean per test set):"]
    for row in board.head(limit).itertuples(index=False):
        row = pd.Series(row, index=board.columns)
        rank = "–" if pd.isna(row["rank"]) else f"{row['rank']:.2f}"
        scores = "  ".join(f"{c.split(':', 1)[0]} {row[c]:.3f}" for c in means
                           if pd.notna(row[c]))
        lines.append(f"  {rank:>5}  {row.method}  {scores}")
    if len(board) > limit:
        lines.append(f"  … and {len(board) - limit} more methods")
    return lines
