"""A human-readable summary of a CaseSet: what `synth2seg data check` prints."""

from __future__ import annotations

from collections import Counter

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.api.case import CaseSet
from bench.data import geometry


def print_summary(cases: CaseSet, console: Console, title: str = "") -> None:
    unit = "mL" if cases.spatial_dims == 3 else "cm²"
    scale = 1e-3 if cases.spatial_dims == 3 else 1e-2
    table = Table(title=f"{title}: {len(cases)} cases, channels {', '.join(cases.channels)}")
    table.add_column("case")
    table.add_column("shape")
    table.add_column("spacing (mm)")
    for name in list(cases.labels.values())[1:]:
        table.add_column(f"{name} ({unit})", justify="right")
    volumes = cases.label_volumes()
    for case in cases:
        spacing = " x ".join(f"{s:.3g}" for s in case.spacing)
        row = [f"{volumes[case.id][n] * scale:.1f}" for n in list(cases.labels.values())[1:]]
        table.add_row(case.id, " x ".join(map(str, case.spatial_shape)), spacing, *row)
    console.print(table)
    brain = {n: np.mean([v[n] for v in volumes.values()]) * scale
             for n in list(cases.labels.values())[1:]}
    means = ", ".join(f"{n} {v:.1f} {unit}" for n, v in brain.items())
    console.print(f"labels {cases.labels}; mean volumes: {means}")
    if cases.spatial_dims == 3 and len(cases):
        for line in geometry_lines(cases):
            console.print(line, markup=False, highlight=False)


def geometry_lines(cases: CaseSet) -> list[str]:
    """Orientation codes as stored, spacing spread and anisotropy (RAS+ order), the target
    spacing and slicing axis a run would use, and one warning line per mixture."""
    stored = [c.meta.get(geometry.GEOMETRY, {}).get("axcodes") or geometry.axcodes(
        geometry._affine(c)) for c in cases]
    codes = Counter(stored)
    spacings = np.array([c.spacing for c in cases], dtype=np.float64)
    ratio = spacings.max(1) / spacings.min(1)
    plan = geometry.plan(cases)
    mm = "x".join(["{:.3g}"] * 3).replace("x", " x ")
    lines = [
        "orientations (as stored): " + ", ".join(f"{k} {n}" for k, n in codes.most_common()),
        f"spacing (mm, RAS+): min {mm.format(*spacings.min(0))}, median "
        f"{mm.format(*np.median(spacings, 0))}, max {mm.format(*spacings.max(0))}",
        f"anisotropy (largest / smallest spacing): median {np.median(ratio):.3g}, max "
        f"{ratio.max():.3g} ({cases[int(ratio.argmax())].id})",
        f"target spacing {mm.format(*plan.spacing)} mm (nnU-Net's rule); slicing axis "
        f"{plan.slice_axis}",
    ]
    if len(codes) > 1:
        lines.append(f"warning: mixed orientations ({', '.join(codes)}); cases are read in RAS+")
    distinct = {tuple(np.round(s, 4)) for s in spacings}
    if len(distinct) > 1:
        lines.append(f"warning: mixed spacings ({len(distinct)} different voxel sizes); cases "
                     "are resampled to the target spacing")
    return lines


def print_metrics(table, console: Console, metric: str = "dice", title: str = "") -> None:
    """Mean ± standard deviation over cases of one metric, per test set and class."""
    rows = table[table.metric == metric]
    if rows.empty:
        console.print(f"no '{metric}' values")
        return
    classes = list(dict.fromkeys(rows["class"]))
    out = Table(title=title or f"{metric} per test set (mean ± sd over cases)")
    out.add_column("test set")
    out.add_column("cases", justify="right")
    for name in [*classes, "mean"]:
        out.add_column(name, justify="right")
    for test_set, group in rows.groupby("test_set", sort=False):
        by_class = group.groupby("class", sort=False).value
        per_case = group.groupby("case").value.mean()
        cells = [f"{by_class.mean()[c]:.3f} ± {by_class.std().fillna(0)[c]:.3f}" for c in classes]
        out.add_row(str(test_set), str(group.case.nunique()), *cells,
                    f"{per_case.mean():.3f} ± {per_case.std() if len(per_case) > 1 else 0:.3f}")
    console.print(out)
