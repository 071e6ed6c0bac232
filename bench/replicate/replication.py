"""REPLICATION.md from the papers' claims and the committed leaderboards.

Each claim compares two arms of one leaderboard on one test set: the difference per case and
seed, its interval valid at the seed count (:func:`bench.report.uncertainty.mean_interval`), its
t test Holm-adjusted over every claim of the file, the design's minimum detectable effect at
alpha / claims, and the verdict of :mod:`bench.report.verdicts`. Against the paper's effect the
verdict reads:

- **reproduced**: better / worse in the paper's direction (a paper effect beyond ±ROPE), or
  equivalent where the paper's own difference is within ±ROPE (a claim of no practical
  difference: then only *equivalent* reproduces it);
- **contradicted**: better / worse against the paper's direction (a paper effect beyond ±ROPE);
- **not reproduced**: equivalent where the paper reports more than the ROPE; better / worse where
  the paper's difference is within the ROPE (a clear difference does not reproduce a negligible
  one, whatever its sign); inconclusive although the design could decide: MDE ≤ |effect| for a
  paper effect beyond the ROPE, an interval narrower than ±ROPE for one within it;
- **not decidable by this design**: inconclusive where the design could not decide (MDE above
  the paper's effect; for a paper effect within the ROPE, an interval too wide to fit inside
  ±ROPE); the run cannot speak to the claim either way.

A claim may name an **exposure control**: the arm's training (the same stages and steps) on real
data only. A reproduced claim of a difference whose arm is not better than its exposure control
is *reproduced in order only*: the extra steps, not the synthetic data, explain it.

A claim may name an **oracle control**: the same comparison with the ``phantom-oracle`` (a perfect
generator of the phantom) in place of the learned generator, judged by the same rule (Holm over the
oracle controls). Its role says what it tells:

- ``positive`` (a claim that synthetic data helps, or matches real data where the paper's effect
  is within ±ROPE): the pattern is *reproducible by this design* only if the oracle shows it
  (better, or equivalent for a claim of no practical difference); where it does not, even
  perfect samples do not show it here, and neither a reproduction nor a failure speaks about
  the generator;
- ``ceiling`` (a claim that synthetic data falls short): where the oracle falls short as well, the
  design (counts, steps, strategy), not the generator, makes the deficit; where it does not, and
  the arm is *worse* than the oracle by the same rule (Holm over the oracle controls), the
  deficit is the generator's.

A claim without one says that reproducibility by design is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench.api.errors import DataError
from bench.replicate.published import case_table
from bench.report.markup import md
from bench.report.tables import paired_interval
from bench.report.verdicts import POWER, add_verdicts

CLAIMS = Path(__file__).with_name("claims.yaml")
ALPHA, ROPE = 0.05, 0.01
TOLERANCE = 1e-9  # transcribed figures: 0.904 - 0.894 is 0.010000000000000009
NO_ORACLE = "none in this run: reproducibility by design not shown"
ROLES = ("positive", "ceiling")


@dataclass
class Outcome:
    """One claim, measured."""

    claim: dict
    paper_effect: float
    difference: float
    low: float
    high: float
    cases: int
    seeds: int
    p: float
    p_holm: float = np.nan
    mde: float = np.nan
    verdict: str = ""
    reason: str = ""
    replication: str = ""
    exposure: str = "none"
    oracle: str = NO_ORACLE


def load_claims(path: Path = CLAIMS) -> list[dict]:
    claims = yaml.safe_load(Path(path).read_text())
    if not isinstance(claims, list) or not claims:
        raise DataError(f"{path}: expected a list of claims")
    return claims


def measure(claims: list[dict], leaderboards: Path) -> list[Outcome]:
    """Every claim against its leaderboard, with Holm over all of them."""
    tables: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:
        if name not in tables:
            tables[name] = case_table(Path(leaderboards) / name)
        return tables[name]

    outcomes, intervals, controls, oracles = [], [], [], []
    for claim in claims:
        name = claim["leaderboard"]
        arm, reference = (_grid(table(name), claim, claim[side]["method"], name)
                          for side in ("arm", "reference"))
        control = claim.get("exposure")
        controls.append(None if control is None else paired_interval(
            arm, _grid(table(control["leaderboard"]), claim, control["method"],
                       control["leaderboard"])))
        effect = float(np.mean(claim["arm"]["values"]) - np.mean(claim["reference"]["values"]))
        oracle = claim.get("oracle")
        if oracle is not None:
            if oracle.get("role") not in ROLES:
                raise DataError(f"claim '{claim['id']}': oracle.role must be one of "
                                f"{', '.join(ROLES)} (got {oracle.get('role')!r})")
            if oracle["role"] == "ceiling" and _negligible(effect):
                raise DataError(f"claim '{claim['id']}': the paper's effect is within "
                                f"±{ROPE:g} (no practical difference), so its oracle control "
                                "is 'positive' (perfect samples must match real ones), not "
                                "'ceiling'")
            perfect = _grid(table(name), claim, oracle["arm"], name)
            oracles.append((paired_interval(perfect, _grid(table(name), claim,
                                                           oracle["reference"], name)),
                            paired_interval(arm, perfect)))
        interval = paired_interval(arm, reference)
        intervals.append(interval)
        outcomes.append(Outcome(claim, effect, interval.mean, interval.low, interval.high,
                                interval.cases, interval.seeds, interval.t_test()))
    decided = _decide(intervals)  # the leaderboard's rule, Holm over every claim
    for outcome, row, control in zip(outcomes, decided.itertuples(), controls, strict=True):
        outcome.p_holm, outcome.mde = float(row.p_holm), float(row.mde)
        outcome.verdict, outcome.reason = row.verdict, row.verdict_reason
        outcome.replication = replication(outcome.verdict, outcome.paper_effect, outcome.mde,
                                          (outcome.high - outcome.low) / 2)
        if control is not None:
            outcome.exposure = (f"arm − control {control.mean:+.3f} "
                                f"[{control.low:+.3f}, {control.high:+.3f}]")
            beats = control.low > 0  # the arm's gain survives the same steps on real data
            if outcome.replication == "reproduced" and not beats and not _negligible(
                    outcome.paper_effect):  # "in order" means nothing for a claim of no difference
                outcome.replication = "reproduced in order only (the exposure control " \
                                      "matches it)"
    _judge_oracles([o for o in outcomes if o.claim.get("oracle")], oracles)
    return outcomes


def _judge_oracles(outcomes: list[Outcome], pairs: list) -> None:
    """Each oracle control by the verdict rule, Holm over the oracle controls, and what it says
    about its claim (see the module docstring). ``pairs``: per claim, the oracle against the
    reference and the arm against the oracle (how far the generator is from perfect samples)."""
    if not outcomes:
        return
    intervals, gaps = ([pair[k] for pair in pairs] for k in (0, 1))
    decided, behind = (_decide(i).itertuples() for i in (intervals, gaps))
    for outcome, interval, gap, row, below in zip(outcomes, intervals, gaps, decided, behind,
                                                  strict=True):
        role = outcome.claim["oracle"]["role"]
        direction = ("equivalent" if _negligible(outcome.paper_effect) else
                     "better" if outcome.paper_effect > 0 else "worse")
        shows = row.verdict == direction  # the oracle moves the way the paper's arm does
        measured = (f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}], "
                    f"MDE {row.mde:.3f}, p (Holm) {row.p_holm:.3g}: {row.verdict}")
        if role == "positive":
            reading = ("the oracle shows the pattern: reproducible by this design" if shows else
                       "the oracle does not show it: not reproducible by this design")
            if not shows:
                outcome.replication += "; the oracle does not show it"
        elif shows:
            reading = "perfect samples fall short too: the design, not the generator, makes " \
                      "the deficit"
            if outcome.replication == "reproduced":
                outcome.replication = "reproduced, but the oracle falls short too"
        elif row.verdict == "inconclusive" and below.verdict == "worse" == outcome.verdict:
            # the oracle's own comparison may stay undecided while the arm is clearly below it
            reading = (f"the arm falls short of perfect samples by {gap.mean:+.3f} "
                       f"[{gap.low:+.3f}, {gap.high:+.3f}] (MDE {below.mde:.3f}, p (Holm) "
                       f"{below.p_holm:.3g}): the deficit is the generator's")
        elif row.verdict == "inconclusive":
            reading = "inconclusive: whether the deficit is the generator's is not shown"
        else:
            reading = "perfect samples do not fall short: the deficit is the generator's"
        outcome.oracle = f"oracle Δ {measured}; {reading}"


def _decide(intervals: list) -> pd.DataFrame:
    """The leaderboard's verdict rule over a family of paired intervals (Holm within it)."""
    rows = pd.DataFrame([{"difference": i.mean, "ci_low": i.low, "ci_high": i.high,
                          "p": i.t_test()} for i in intervals])
    return add_verdicts(rows, intervals, ALPHA, ROPE)


def _negligible(paper_effect: float) -> bool:
    """The paper's own difference is within the ROPE: a claim of no practical difference."""
    return abs(paper_effect) <= ROPE + TOLERANCE


def replication(verdict: str, paper_effect: float, mde: float,
                half_width: float = np.nan) -> str:
    """The claim's fate from our verdict, the paper's effect and what the design can decide:
    the MDE for a paper effect beyond the ROPE, the interval's half width (could it fit inside
    ±ROPE?) for one within it (see the module docstring)."""
    negligible = _negligible(paper_effect)
    if verdict in ("better", "worse"):
        if negligible:  # the paper's own figures differ by a negligible amount
            return "not reproduced"
        ours = 1 if verdict == "better" else -1
        return "reproduced" if ours == np.sign(paper_effect) else "contradicted"
    if verdict == "equivalent":
        return "reproduced" if negligible else "not reproduced"
    if negligible:
        decidable = np.isfinite(half_width) and half_width < ROPE
    else:
        decidable = np.isfinite(mde) and mde <= abs(paper_effect)
    return "not reproduced" if decidable else "not decidable by this design"


def _grid(table: pd.DataFrame, claim: dict, method: str, name: str) -> pd.DataFrame:
    """case × seed scores of one arm: the claim's class, or the mean over classes."""
    rows = table[(table.method == method) & (table.test_set == claim["test_set"])
                 & (table.metric == claim.get("metric", "dice"))]
    if claim.get("class"):
        rows = rows[rows["class"] == claim["class"]]
    if rows.empty:
        raise DataError(f"claim '{claim['id']}': leaderboard {name} has no {claim['test_set']} "
                        f"scores of '{method}'")
    return rows.groupby(["case", "seed"]).value.mean().unstack("seed")


def render(outcomes: list[Outcome], claims_file: str) -> str:
    """The Markdown file; every figure comes from ``outcomes``."""
    lines = [
        "# Replicating the three papers on the phantom",
        "",
        "Generated by `synth2seg replicate` from `" + claims_file + "` (the papers' figures, "
        "transcribed from their tables) and the committed leaderboard folders "
        "(`cells.csv` and `summaries/`); do not edit by hand. Runs, commands and wall times are "
        "in each leaderboard's `RUN.md`.",
        "",
        "How a claim is judged: Δ is the arm minus the reference per test case and seed, its 95% "
        "interval is valid at the seed count used (over cases only with one seed: it cannot "
        f"speak about refits), p is its t test, Holm-adjusted over the {len(outcomes)} claims, "
        f"and the MDE is the difference this design finds with power {POWER} at alpha "
        f"{ALPHA:g} / {len(outcomes)}. Verdict: better / worse when the adjusted p is below "
        f"{ALPHA:g} and |Δ| ≥ MDE; equivalent when the interval lies inside ±{ROPE:g}; "
        "otherwise inconclusive. A difference below the MDE is never called a difference, and "
        "an inconclusive verdict whose MDE exceeds the paper's effect is *not decidable by this "
        "design*, not a failure to replicate. A paper difference within "
        f"±{ROPE:g} is a claim of no practical difference: only *equivalent* reproduces it, "
        "better or worse does not, and an inconclusive verdict is not decidable when the "
        f"interval is too wide to fit inside ±{ROPE:g}. "
        "The oracle control is the same comparison with the phantom-oracle (a perfect generator"
        " of the phantom) in place of the learned one, judged by the same rule (Holm over the "
        "oracle controls): for a claim that synthetic data helps (or matches real data, for a "
        "paper difference within the ROPE), the pattern is reproducible by this design only if "
        "the oracle shows it (better, or equivalent); for a claim that it falls short, an "
        "oracle that falls short too puts the deficit on the design, not the generator, and an "
        "arm worse than the oracle by the same rule puts it on the generator.",
        "",
        "| claim | paper | paper Δ | leaderboard, test set | cases × seeds | Δ [95% interval] | "
        "MDE | p (Holm) | verdict | replication | exposure control | oracle control |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        c = o.claim
        scored = f"{c['class']} Dice" if c.get("class") else "mean Dice"
        lines.append(
            f"| {md(c['claim'])} | {md(c['paper'])} ({md(c['arm']['paper'])} − "
            f"{md(c['reference']['paper'])}, {scored}) | {o.paper_effect:+.3f} | "
            f"`{c['leaderboard']}`, {md(c['test_set'])} | {o.cases} × {o.seeds} | "
            f"{o.difference:+.3f} [{o.low:+.3f}, {o.high:+.3f}] | {o.mde:.3f} | "
            f"{o.p:.3g} ({o.p_holm:.3g}) | {o.verdict} | **{o.replication}** | {o.exposure} | "
            f"{md(o.oracle)} |")
    lines += [
        "",
        "Why each verdict:",
        "",
        *[f"- {o.claim['id']}: {md(o.reason)}." for o in outcomes],
        "",
        "What these runs are: the `-cpu` presets scale the papers' experiments to 2 CPU cores "
        "(few training volumes, short fits, few samples), on the embedded phantom. Its subjects "
        "are deformations of one template (the MNI152 brain), so its test volumes are not "
        "independent patients: an interval over them understates the spread over a "
        "population. Claims that no shipped leaderboard holds (Vu et al.'s sign tables, the "
        "thoracic CT columns of MedGen3D) are not listed.",
    ]
    return "\n".join(lines) + "\n"


def write_replication(leaderboards: Path, out: Path, claims: Path = CLAIMS) -> Path:
    outcomes = measure(load_claims(claims), leaderboards)
    shown = claims.name if claims == CLAIMS else str(claims)
    text = render(outcomes, f"bench/replicate/{shown}" if claims == CLAIMS else shown)
    out = Path(out)
    out.write_text(text)
    return out
