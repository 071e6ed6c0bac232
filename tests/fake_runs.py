"""A run folder written straight into the store: leaderboard tests without training anything."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from bench.fidelity.catalogue import Row
from bench.run.store import Store


def write_fake_run(run_dir: Path, generators: dict[str, float], test_sets=("heldout", "siteB"),
                   cases: int = 8, seeds=(0, 1, 2), metrics=("dice", "hd95"),
                   classes=("wm", "gm"), name: str = "fake") -> Path:
    """A finished run: a real-only baseline plus one synthetic method per ``generators`` entry
    (label -> Dice gain over the baseline), every (test set, case, seed, class, metric) row."""
    rng = np.random.default_rng(0)
    store = Store(Path(run_dir) / "results.sqlite")
    config = {"name": name, "metrics": list(metrics), "primary_metric": metrics[0],
              "alpha": 0.05, "report": {"resamples": 200, "rope": 0.01, "seed": 0}}
    store.set_manifest({"config": config})
    base = rng.uniform(0.6, 0.8, size=(len(test_sets), cases))
    arms = {"real only": (0, "real", 0.0), **{g: (10, "real+synthetic", gain)
                                             for g, gain in generators.items()}}
    for label, (count, strategy, gain) in arms.items():
        for seed in seeds:
            method = f"{label} n={count} · {strategy} · unet2d:tiny"
            cell = SimpleNamespace(
                key=f"{abs(hash((label, seed))):x}", method=method, seed=seed, count=count,
                method_id=f"{abs(hash(method)):x}", generator=SimpleNamespace(label=label),
                strategy=SimpleNamespace(key=strategy, augment=False),
                segmenter=SimpleNamespace(label="unet2d:tiny"), train_cases=None)
            rows = []
            for t, test_set in enumerate(test_sets):
                for c in range(cases):
                    dice = base[t, c] + gain + rng.normal(0, 0.01)
                    for klass in classes:  # the first metric Dice-like, the others distances
                        for m, metric in enumerate(metrics):
                            value = dice if m == 0 else 10 * (1 - dice)
                            rows.append((test_set, f"case{c}", metric, klass, value))
            table = pd.DataFrame(rows, columns=["test_set", "case", "metric", "class", "value"])
            store.commit_cell(cell, table, time.time(), "cpu")
    for label, gain in generators.items():  # FD falls as the gain rises
        store.record_fidelity(f"fit-{abs(hash(label)):x}", label, 0, 10,
                              [Row(metric="fd_indomain", value=2.0 - 10 * gain)])
    store.close()
    return Path(run_dir)
