"""Per lesion-size strata: does a method find small lesions, or only large ones?

A mean Dice over lesion cases hides that small lesions are the hard ones (Maier-Hein et al.
2018; Metrics Reloaded). For every lesion class of a test set (a label whose name says tumour,
lesion, oedema, enhancing, necrosis, metastasis or cyst), the test cases are put in strata by
the class's true volume in that case:

- ``small`` / ``medium`` / ``large``: terciles of the test set's true volumes of that class over
  the cases that have it (edges at the 1/3 and 2/3 quantiles; a case on an edge goes below it);
  with fewer than three such cases, one stratum ``all``;
- ``absent``: cases without that lesion (Dice is 1 for an empty prediction and 0 for any false
  positive, so this stratum reads as "how often it invents one").

Volumes are measured by the runner on the test sets' label maps (mL for volumes, mm² for 2D
images; :mod:`bench.data.lesions`) and kept in the store's manifest, so a report needs no data.
Each stratum's mean comes with the 95% interval over seeds and cases of
:mod:`bench.report.uncertainty`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.markup import md
from bench.report.uncertainty import mean_interval

ORDER = ["small", "medium", "large", "all", "absent"]


def assign_strata(volumes: dict[str, float]) -> dict[str, tuple[str, str]]:
    """Per case, (stratum, its volume range as text) for one class on one test set."""
    present = np.array([v for v in volumes.values() if v > 0])
    if len(present) < 3:
        edges = None
    else:
        edges = np.quantile(present, [1 / 3, 2 / 3])
    bounds = {"all": (present.min(), present.max()) if len(present) else (0, 0)}
    if edges is not None:
        bounds |= {"small": (present.min(), edges[0]), "medium": (edges[0], edges[1]),
                   "large": (edges[1], present.max())}
    out = {}
    for case, volume in volumes.items():
        if volume <= 0:
            out[case] = ("absent", "0")
            continue
        stratum = "all" if edges is None else \
            "small" if volume <= edges[0] else "medium" if volume <= edges[1] else "large"
        low, high = bounds[stratum]
        out[case] = (stratum, f"{low:.3g}–{high:.3g}")
    return out


def lesion_strata(table: pd.DataFrame, reference: dict | None, metric: str) -> pd.DataFrame:
    """(method, test set, lesion class, stratum) → cases, volume range, mean and 95% interval
    of ``metric`` on that class (mean over seeds of each case first)."""
    columns = ["method", "test_set", "class", "stratum", "volume", "unit", "cases", "mean",
               "ci_low", "ci_high"]
    if not reference:
        return pd.DataFrame(columns=columns)
    rows = table[table.metric == metric]
    out = []
    for test_set, per_case in reference["volumes"].items():
        classes = sorted({k for v in per_case.values() for k in v})
        for klass in classes:
            strata = assign_strata({c: v.get(klass, 0.0) for c, v in per_case.items()})
            part = rows[(rows.test_set == test_set) & (rows["class"] == klass)]
            part = part.assign(stratum=part.case.astype(str).map(
                {c: s for c, (s, _) in strata.items()}))
            ranges = {s: r for s, r in strata.values()}
            for (method, stratum), scores in part.dropna(subset=["stratum"]).groupby(
                    ["method", "stratum"], sort=False):
                grid = scores.pivot_table(index="case", columns="seed", values="value",
                                          aggfunc="mean", dropna=False).to_numpy()
                interval = mean_interval(grid)
                mean, low, high = interval.mean, interval.low, interval.high
                out.append([method, test_set, klass, stratum, ranges[stratum], reference["unit"],
                            len(grid), mean, low, high])
    frame = pd.DataFrame(out, columns=columns)
    order = frame.stratum.map(ORDER.index)
    return frame.assign(_order=order).sort_values(["test_set", "class", "method", "_order"],
                                                  kind="stable").drop(columns="_order") \
        .reset_index(drop=True)


def strata_markdown(strata: pd.DataFrame, metric: str) -> list[str]:
    if strata.empty:
        return []
    lines = ["", f"## Lesion size ({md(metric)} per lesion-size stratum)", "",
             "Test cases in terciles of their true lesion volume on each test set (*absent*: "
             "cases without that lesion, where any predicted lesion scores 0); mean over cases "
             "and seeds with the 95% bootstrap interval.", "",
             "| test set | class | stratum | volume | cases | method | mean [95% interval] |",
             "|---|---|---|---|---|---|---|"]
    for r in strata.rename(columns={"class": "lesion"}).itertuples(index=False):
        value = "–" if pd.isna(r.mean) else \
            f"{r.mean:.3f}" if pd.isna(r.ci_low) else \
            f"{r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
        lines.append(f"| {md(r.test_set)} | {md(r.lesion)} | {r.stratum} | {r.volume} {r.unit} | "
                     f"{r.cases} | {md(r.method)} | {value} |")
    return lines


def strata_html(strata: pd.DataFrame, metric: str) -> list[str]:
    """The Markdown table's content as an escaped HTML table (``id='lesion-strata'``)."""
    from bench.report.markup import esc

    head = "".join(f"<th>{h}</th>" for h in ("test set", "class", "stratum", "volume", "cases",
                                            "method", "mean [95% interval]"))
    rows = []
    for r in strata.rename(columns={"class": "lesion"}).itertuples(index=False):
        value = "–" if pd.isna(r.mean) else f"{r.mean:.3f}" if pd.isna(r.ci_low) else \
            f"{r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
        cells = (r.test_set, r.lesion, r.stratum, f"{r.volume} {r.unit}", r.cases, r.method,
                 value)
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return [f"<h2>Lesion size ({esc(metric)})</h2>",
            "<p class='note'>Test cases in terciles of their true lesion volume on each test "
            "set (absent: cases without that lesion, where any predicted lesion scores 0); mean "
            "over cases and seeds with the 95% bootstrap interval.</p>",
            f"<table id='lesion-strata'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"]
