"""leaderboard.md: the tables as Markdown, each mean with its interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.columns import COST_COLUMNS, UNAVAILABLE
from bench.report.lesion_strata import strata_markdown
from bench.report.markup import md
from bench.report.provenance import provenance_markdown
from bench.report.real_equivalence import equivalence_markdown, equivalence_text
from bench.report.stopping import stopping_markdown
from bench.report.value import Leaderboard


def interval_text(row, column: str, digits: int = 3) -> str:
    """``mean [low, high]`` of a ``…_mean`` board column; ``–`` where there is no value."""
    mean = row[column]
    if pd.isna(mean):
        return "–"
    low, high = row[column.replace("_mean", "_ci_low")], row[column.replace("_mean", "_ci_high")]
    if pd.isna(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def write_markdown(value: Leaderboard, path: Path) -> Path:
    board, per_test, primary, baseline, config = (value.board, value.per_test, value.primary,
                                                  value.baseline, value.config)
    means = [c for c in board.columns if c.endswith(f":{primary}_mean")]
    equivs = [c for c in board.columns if c.endswith(":real_equiv")]
    resamples = config.get("report", {}).get("resamples", 1000)
    has_stability = "keeps_rank" in board.columns
    lines = [f"# {md(value.name)}", "",
             f"Methods ranked by mean rank of {md(primary)} over every test case (1 = best). "
             f"{INTERVALS} "
             + (f"*Keeps rank*: the share of {resamples} bootstrap resamples of the cases that "
                "give the method the same place; *rank range*: the 95% range of its place."
                if has_stability else ""), ""]
    header = ["rank", *(["keeps rank", "rank range"] if has_stability else []), "method",
              "seeds", *[md(c.replace("_mean", "")) for c in means],
              *[md(c.replace("real_equiv", "real cases ≈")) for c in equivs]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board.iterrows():
        cells = [f"{row['rank']:.3f}" if pd.notna(row["rank"]) else "–"]
        if has_stability:
            cells += [f"{row.keeps_rank:.0%}" if pd.notna(row.keeps_rank) else "–",
                      md(row.rank_range)]
        seeds = f"{row.seeds} (cases only)" if row.seeds < 2 else str(row.seeds)
        cells += [md(row.method), seeds, *[interval_text(row, c) for c in means],
                  *[equivalence_text(row, c) for c in equivs]]
        lines.append("| " + " | ".join(cells) + " |")
    for test_set, result in per_test.items():
        lines += ["", f"## {md(test_set)}", ""]
        lines.append(md(result["friedman"].describe()) if "friedman" in result
                     else "Too few methods or cases for the Friedman test.")
        if "stability" in result:
            tau = result["stability"].tau
            lines += ["", f"Rank stability: median Kendall's τ between {len(tau)} bootstrap "
                      f"rankings and the full one = {np.nanmedian(tau):.3f}."]
        lines += distance_counts(board, test_set)
        if "paired" in result:
            lines += _baseline_markdown(result["paired"], baseline)
    lines += equivalence_markdown(value.curve, primary)
    lines += strata_markdown(value.strata, primary)
    lines += stopping_markdown(value.stopping, value.stopping_note)
    lines += cost_markdown(board)
    lines += per_class_markdown(value.classes, primary)
    lines += correlation_markdown(value.correlations, primary)
    lines += fidelity_markdown(value.fidelity, value.notes, value.protocol)
    lines += provenance_markdown(value.generators)
    path.write_text("\n".join(lines) + "\n")
    return path


def cost_markdown(board: pd.DataFrame) -> list[str]:
    columns = [c for c in COST_COLUMNS if c in board.columns and board[c].notna().any()]
    if not columns:
        return []
    lines = ["", "## Cost", "", "| method | " + " | ".join(c.split(":", 1)[1] for c in columns)
             + " |", "|---|" + "---|" * len(columns)]
    for _, row in board.iterrows():
        lines.append(f"| {md(row.method)} | " + " | ".join(
            "–" if pd.isna(row[c]) else f"{row[c]:.4g}" for c in columns) + " |")
    lines += [""] + [f"- {c.split(':', 1)[1]}: {text}" for c, text in COST_COLUMNS.items()
                     if c in columns]
    return lines


def correlation_markdown(correlations: pd.DataFrame, primary: str) -> list[str]:
    part = correlations.dropna(subset=["spearman"]) if len(correlations) else correlations
    if part.empty:
        return []
    lines = ["", "## Does fidelity predict utility?", "",
             f"Spearman's ρ between each fidelity metric of a sample set and the {md(primary)} "
             "gain over the baseline of the segmenter trained on it, one point per sample set "
             "(generator, count) and one ρ per strategy and segmenter (a sample set used by two "
             "strategies is not counted twice), with a 95% bootstrap interval over the sample "
             "sets. Lower-is-better metrics (FID, KID, FD) predict utility when ρ is negative.",
             "",
             "| metric | test set | strategy | segmenter | sample sets | ρ | 95% interval | p |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in part.iterrows():
        interval = "–" if pd.isna(r.ci_low) else f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        lines.append(f"| {md(r.metric)} | {md(r.test_set)} | {md(r.get('strategy', '–'))} | "
                     f"{md(r.get('segmenter', '–'))} | {r.points} | {r.spearman:+.3f} | "
                     f"{interval} | {r.p_value:.3g} |")
    return lines


def per_class_markdown(classes: pd.DataFrame, metric: str) -> list[str]:
    """Per class and test set, the mean of ``metric`` over cases (only with several classes)."""
    part = classes[classes.metric == metric]
    if part["class"].nunique() < 2:
        return []
    wide = part.pivot_table(index="method", columns=["test_set", "class"], values="mean",
                            sort=False)
    header = [md(f"{t}:{c}") for t, c in wide.columns]
    lines = ["", f"## Per class ({md(metric)}, mean over cases)", "",
             "| method | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for method, row in wide.iterrows():
        lines.append(f"| {md(method)} | " + " | ".join(
            "–" if pd.isna(v) else f"{v:.3f}" for v in row) + " |")
    return lines


INTERVALS = ("Values are means with 95% t intervals over seeds and cases (seeds are refits: "
             "the variance of both, Satterthwaite's degrees of freedom, never narrower than the t "
             "interval over the seed means); with one seed the interval is over cases only and "
             "cannot speak about refits.")
VERDICT_RULE = ("*Verdict*: better / worse when the Holm-adjusted p-value (over every method "
                "and test set) is below alpha and the difference is at least the minimum "
                "detectable effect (MDE: found with power 0.8 at alpha / comparisons, from the "
                "observed case and seed variance); equivalent when the 95% interval lies inside "
                "the ROPE; otherwise inconclusive. A difference below the MDE is never called "
                "a difference.")


NOT_RECORDED = "not recorded (a store written before they were)"


def distance_counts(board: pd.DataFrame, test_set: str) -> list[str]:
    """How many HD95 values of a test set were penalised or excluded: the methods with any, by
    name, and an explicit "none" when no method has one (a list of zeros hides the few)."""
    penalised, excluded = f"{test_set}:hd95_penalised", f"{test_set}:hd95_excluded"
    if excluded not in board.columns:
        return []
    counts = (_nonzero(board.method, board[penalised]) if penalised in board.columns
              else NOT_RECORDED)
    return ["", f"HD95 values (case × class × seed) given the worst-case distance because a "
            f"structure was missed or invented: {counts}. Excluded because the structure is "
            f"absent from both masks: {_nonzero(board.method, board[excluded])}."]


def _nonzero(methods: pd.Series, counts: pd.Series) -> str:
    """Methods with a count above 0; those without a count are said to have none recorded,
    never folded into the zeros."""
    if counts.isna().all():
        return NOT_RECORDED
    named = [f"{md(m)} {int(n)}" for m, n in zip(methods, counts, strict=True)
             if pd.notna(n) and n > 0]
    scored, missing = int(counts.notna().sum()), int(counts.isna().sum())
    text = ", ".join(named) if named else (
        f"none (0 for each of the {scored} methods)" if scored > 1 else "none")
    return text + (f"; not recorded for {missing} of the {len(counts)} methods" if missing
                   else "")


def _baseline_markdown(paired: pd.DataFrame, baseline: str) -> list[str]:
    rope = paired.rope.iloc[0] if len(paired) else 0.0
    family = int(paired.family.iloc[0]) if len(paired) else 0
    lines = ["", f"Against the baseline {md(baseline)} ({family} comparisons in the Holm family; "
             f"Δ = method − baseline, per case and seed; ROPE ±{rope:g}; Cliff's delta: "
             "P(x > y) − P(x < y); Bayesian signed-rank test). " + VERDICT_RULE, "",
             "| method | cases × seeds | Δ [95% interval] | MDE | p (Holm) | Wilcoxon p (Holm) | "
             "Cliff's δ | P(worse) | P(equivalent) | P(better) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in paired.iterrows():
        lines.append(f"| {md(r.method)} | {r.cases} × {r.seeds} | {r.difference:+.4f} "
                     f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}] | {r.mde:.4f} | {r.p:.3g} "
                     f"({r.p_holm:.3g}) | {r.wilcoxon_p:.3g} ({r.wilcoxon_p_holm:.3g}) | "
                     f"{r.cliffs_delta:+.3f} ({r.effect}) | {r.p_worse:.3f} | "
                     f"{r.p_equivalent:.3f} | {r.p_better:.3f} | **{r.verdict}** |")
    return lines


def fidelity_markdown(summary: pd.DataFrame, notes: dict[str, str],
                      protocol: pd.DataFrame | None = None) -> list[str]:
    from bench.fidelity.catalogue import METRICS

    if summary.empty:
        return []
    lines = ["", "## Generated samples", "",
             "| generator | n | " + " | ".join(md(c) for c in summary.columns) + " |",
             "|---|---|" + "---|" * len(summary.columns)]
    for (generator, count), row in summary.iterrows():
        cells = [md(v) if isinstance(v, str) else f"{v:.4g}" for v in row]
        lines.append(f"| {md(generator)} | {count} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {md(m)}: {md(METRICS.get(m, m))}" for m in summary.columns]
    if notes:
        lines += ["", f"Unavailable ({UNAVAILABLE}):", ""]
        lines += [f"- {md(m)}: {md(note)}" for m, note in notes.items()]
    if protocol is not None and len(protocol):
        lines += ["", "How the distribution metrics were measured (n: real/synthetic images "
                      "compared, over views; floor n: images per real half):", "",
                  "| " + " | ".join(md(c) for c in protocol.columns) + " |",
                  "|" + "---|" * len(protocol.columns)]
        lines += ["| " + " | ".join(md(str(v)) for v in row) + " |"
                  for row in protocol.itertuples(index=False)]
    return lines
