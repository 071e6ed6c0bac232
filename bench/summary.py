"""A human-readable summary of a CaseSet: what `synth2seg data check` prints."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.case import CaseSet


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
