"""Per lesion-size strata: terciles of the true lesion volume, the means per stratum, and the
report's table. References are computed by hand (numpy's default linear quantiles: the 1/3 and
2/3 quantiles of 1…6 are 1 + 5/3 and 1 + 10/3)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench.data import open_dataset
from bench.data.lesions import lesion_classes, reference_volumes
from bench.report.leaderboard import write_report
from bench.report.lesion_strata import assign_strata, lesion_strata
from bench.run.store import Store

VOLUMES = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 6.0, "g": 0.0}


def test_cases_fall_into_terciles_of_the_true_lesion_volume():
    strata = assign_strata(VOLUMES)
    assert {c: s for c, (s, _) in strata.items()} == {
        "a": "small", "b": "small", "c": "medium", "d": "medium", "e": "large", "f": "large",
        "g": "absent"}
    assert strata["a"][1] == "1–2.67" and strata["e"][1] == "4.33–6"


def test_fewer_than_three_lesions_make_one_stratum():
    strata = assign_strata({"a": 2.0, "b": 0.0, "c": 5.0})
    assert strata == {"a": ("all", "2–5"), "b": ("absent", "0"), "c": ("all", "2–5")}


def test_lesion_classes_are_found_by_name():
    labels = {0: "background", 1: "CSF", 3: "white matter", 4: "tumour", 5: "oedema",
              6: "Enhancing core"}
    assert lesion_classes(labels) == ["tumour", "oedema", "Enhancing core"]


def test_reference_volumes_of_a_lesion_phantom_are_its_lesion_volumes_in_ml():
    cases = open_dataset("phantom:A:3:lesions")
    found = reference_volumes({"heldout": cases})
    assert found["unit"] == "mL" and set(found["volumes"]) == {"heldout"}
    for case in cases:
        voxel_ml = float(np.prod(case.spacing)) / 1000
        assert found["volumes"]["heldout"][case.id] == pytest.approx(
            {"tumour": (case.label == 4).sum() * voxel_ml,
             "oedema": (case.label == 5).sum() * voxel_ml})
    assert reference_volumes({"heldout": open_dataset("phantom:A:3")}) == {}


def _table(dice: dict[str, float], seeds=(0, 1)) -> pd.DataFrame:
    return pd.DataFrame([{"method": "m", "seed": s, "test_set": "heldout", "case": c,
                          "metric": "dice", "class": "tumour", "value": v + 0.01 * (s - 0.5)}
                         for c, v in dice.items() for s in seeds])


def test_each_stratum_has_the_mean_of_its_cases():
    dice = {"a": 0.2, "b": 0.4, "c": 0.6, "d": 0.6, "e": 0.9, "f": 0.7, "g": 1.0}
    reference = {"unit": "mL", "volumes": {"heldout": {c: {"tumour": v}
                                                      for c, v in VOLUMES.items()}}}
    strata = lesion_strata(_table(dice), reference, "dice").set_index("stratum")
    assert list(strata.index) == ["small", "medium", "large", "absent"]
    assert strata["mean"].tolist() == pytest.approx([0.3, 0.6, 0.8, 1.0])
    assert strata.cases.tolist() == [2, 2, 2, 1]
    two = strata.iloc[:3]  # a t interval over 2 cases (1 degree of freedom: wide, as it must be)
    assert (two.ci_low < two["mean"]).all() and (two["mean"] < two.ci_high).all()
    assert strata.loc["small", "ci_high"] - strata.loc["small", "mean"] == pytest.approx(
        12.706 * 0.1, rel=0.02)  # t(0.975, 1) x the SE of {0.2, 0.4} (seeds add a little noise)
    assert np.isnan(strata.loc["absent", "ci_low"])  # one case: no interval at all


def test_the_report_shows_a_lesion_size_table(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.set_manifest({"config": {"name": "lesions", "metrics": ["dice"],
                                   "report": {"resamples": 100}},
                        "lesion_volumes": {"unit": "mL", "volumes": {"heldout": {
                            f"case{i}": {"tumour": float(i)} for i in range(6)}}}})
    for method, count, gain in (("real only", 0, 0.0), ("gen n=10", 10, 0.1)):
        for seed in (0, 1):
            cell = SimpleNamespace(
                key=f"{method}-{seed}", method=method, seed=seed, count=count, method_id=method,
                generator=SimpleNamespace(label="g"), train_cases=None,
                strategy=SimpleNamespace(key="real", augment="none"),
                segmenter=SimpleNamespace(label="unet2d:tiny"))
            rows = pd.DataFrame([("heldout", f"case{i}", "dice", "tumour", 0.1 * i + gain)
                                 for i in range(6)],
                                columns=["test_set", "case", "metric", "class", "value"])
            store.commit_cell(cell, rows, time.time(), "cpu")
    store.close()
    files = write_report(tmp_path, tmp_path / "board")
    strata = pd.read_csv(files["lesion_strata.csv"])
    real = strata[strata.method == "real only"].set_index("stratum")
    # volumes 1…5 are present (case0 has none): terciles {1, 2}, {3}, {4, 5}
    assert real["mean"].to_dict() == pytest.approx({"small": 0.15, "medium": 0.3, "large": 0.45,
                                                    "absent": 0.0})
    assert "## Lesion size (dice per lesion-size stratum)" in files["leaderboard.md"].read_text()
    assert "id='lesion-strata'" in files["index.html"].read_text()
    present = strata[strata.cases >= 2]  # a stratum of one case has no interval
    assert len(present) and np.isfinite(present.ci_low).all()
