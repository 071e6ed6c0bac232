"""One experiment: train a segmenter with a strategy, then measure it on real test sets.

``synth2seg train`` runs one; the matrix runner runs one per cell. Data sets are checked against
each other before anything trains, so a mismatch costs seconds, not hours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.api.case import CaseSet
from bench.api.errors import ConfigError, DataError
from bench.api.segmenter import STOPS, TRAINING_FIELDS, TrainContext
from bench.api.strategies import Strategy
from bench.data import geometry
from bench.data.leakage import check_no_leakage
from bench.data.predictions import write_prediction
from bench.run.config import SegmenterSpec
from bench.run.resolve import resolve
from bench.run.store import TRAINING
from metrics.segmentation import evaluate

# Fewest voxels along an axis a segmenter convolves over: below it a case is mostly padding and
# one voxel decides every metric (a 1x1x1 volume whose one voxel is foreground scores Dice 1.000)
MIN_SIDE = 4

@dataclass
class Experiment:
    segmenter: str
    strategy: Strategy
    preset: str | None = None
    params: dict = field(default_factory=dict)  # overrides on top of the preset
    seed: int = 0
    device: str = "cpu"
    hd95: bool = True
    nsd: float | dict[str, float] | None = None  # NSD tolerance in mm; None: no NSD
    hd95_worst: float | None = None  # HD95 of a missed/invented structure; None: image diagonal
    # False: test sets and the target may name their channels differently (same count), e.g. a
    # T1-trained model tested on FLAIR (brainSPADE 3.2's far out-of-distribution test)
    match_channel_names: bool = True


def build_segmenter(name: str, preset: str | None = None, params: dict | None = None):
    """A segmenter from its preset (or defaults) with ``params`` overriding single fields."""
    spec = SegmenterSpec(name=name, preset=preset, params=params or {})
    return resolve("segmenter", spec).build()


def check_compatible(real: CaseSet, other: CaseSet, role: str, *, same_labels: bool,
                     same_channel_names: bool = True) -> None:
    """``other`` must have the real data's channels and, for training data, its labels.

    ``same_channel_names=False`` only asks for as many channels (another MR sequence as input).
    """
    where = other.meta.get("source", role)
    ours = [c.lower() for c in real.channels]
    theirs = [c.lower() for c in other.channels]
    if not same_channel_names:
        ours, theirs = len(ours), len(theirs)
    if ours != theirs:
        raise DataError(f"{role} dataset {where}: channels {other.channels} do not match the "
                        f"training data's {real.channels}")
    if same_labels and set(other.labels) != set(real.labels):
        raise DataError(f"{role} dataset {where}: labels {other.labels} do not match the "
                        f"training data's {real.labels}")
    if not same_labels and not set(other.labels) <= set(real.labels):
        extra = sorted(set(other.labels) - set(real.labels))
        raise DataError(f"{role} dataset {where}: label values {extra} are not among the "
                        f"training data's {real.labels}")


def check_spatial(segmenter, data: dict[str, CaseSet]) -> None:
    """3D segmenters cannot train on 2D data; 2D ones cut 3D data into slices. Every axis the
    segmenter convolves over (a 2D one: the first two) has at least ``MIN_SIDE`` voxels."""
    if segmenter.spatial_dims == 3:
        for role, cases in data.items():
            if cases.spatial_dims != 3:
                where = cases.meta.get("source", role)
                raise DataError(f"{role} dataset {where}: segmenter "
                                f"'{segmenter.name}' needs 3D volumes, this data is 2D")
    axes = segmenter.spatial_dims
    for role, cases in data.items():
        for case in cases:
            shape = case.spatial_shape[:axes]
            if min(shape) < MIN_SIDE:
                where = cases.meta.get("source", role)
                raise DataError(f"{role} dataset {where}: case {case.id} is "
                                f"{' x '.join(map(str, case.spatial_shape))} voxels, too small "
                                f"for segmenter '{segmenter.name}' (at least {MIN_SIDE} voxels "
                                f"along each of its {axes} axes)")


PREDICT_CHUNK = 16  # test cases predicted and scored together


def run_experiment(exp: Experiment, data: dict[str, CaseSet], tests: dict[str, CaseSet],
                   workdir: Path, log=None, predictions: Path | None = None) -> pd.DataFrame:
    """Train on ``data`` ("real", "val", optional "synthetic", "target", "target_val").

    No test case may equal a case of ``data`` (checked before training).

    Test cases are brought to the training data's geometry plan (``bench.data.geometry``) for
    prediction; every prediction is brought back to its case's stored grid and orientation, where
    the metrics are computed with the stored spacing, and, given ``predictions``, written there
    as ``predictions/<test set>/<case id>.nii.gz`` with the stored affine.

    Returns the long per-case table of :func:`metrics.segmentation.evaluate` for every test set,
    with the segmenter's training record (``TrainedModel.info["training"]``, None where it keeps
    none) in ``attrs[TRAINING]``: it travels with the rows to the store (:mod:`bench.run.store`).
    """
    plan = geometry.plan_of(data["real"])
    views = {name: cases if plan is None else geometry.apply(cases, plan)
             for name, cases in tests.items()}  # what the model sees: the training grid
    segmenter = check_experiment(exp, data, views)
    kwargs = {"log": log} if log is not None else {}
    ctx = TrainContext(workdir=workdir, data=data, device=exp.device, seed=exp.seed,
                       augment=exp.strategy.augment, **kwargs)
    model = segmenter.train(list(exp.strategy.stages), ctx)
    tables = []
    spacing = None if plan is None else plan.spacing
    for name, all_cases in tests.items():
        # A chunk of cases at a time: predictions are whole label volumes, so memory holds
        # PREDICT_CHUNK of them however large the test set (the rows are per case: the same).
        for start in range(0, len(all_cases), PREDICT_CHUNK):
            chunk = list(range(start, min(start + PREDICT_CHUNK, len(all_cases))))
            cases, view_set = all_cases.subset(chunk), views[name].subset(chunk)
            predicted = segmenter.predict(model, view_set, exp.device)
            stored = [geometry.back_to_case(p, case, spacing if view is not case else None)
                      for p, case, view in zip(predicted, cases, view_set, strict=True)]
            del predicted
            if predictions is not None:
                for case, label_map in zip(cases, stored, strict=True):
                    write_prediction(predictions / name, case, label_map, data["real"].labels)
            tables.append(evaluate(geometry.stored_set(cases), stored, name, hd95=exp.hd95,
                                   nsd=exp.nsd, worst_distance=exp.hd95_worst))
    table = pd.concat(tables, ignore_index=True)
    table.attrs[TRAINING] = training_record(model.info, log or ctx.log)
    return table


def training_record(info: dict, log) -> list[dict] | None:
    """The segmenter's training record (``info["training"]``) as plain JSON, or None where it
    keeps none or keeps one the report cannot read (logged): a malformed record must not cost
    a trained cell its rows."""
    record = info.get("training")
    if record is None:
        return None
    try:
        plain = json.loads(json.dumps(record, default=lambda o: o.item()))  # numpy scalars
        if not all(set(TRAINING_FIELDS) <= set(stage) and stage["stopped"] in STOPS
                   and isinstance(stage["steps"], int) and isinstance(stage["cap"], int)
                   and isinstance(stage["patience"], int) for stage in plain):
            raise ValueError(f"each stage needs {', '.join(TRAINING_FIELDS)}, 'stopped' one "
                             f"of {', '.join(STOPS)}, whole steps, cap and patience")
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("training record dropped (the leaderboard says 'no record'): %s", exc)
        return None
    return plain


def check_experiment(exp: Experiment, data: dict[str, CaseSet], tests: dict[str, CaseSet]):
    """Every check that needs no training, so a mistake is refused before anything is written;
    returns the segmenter."""
    segmenter = build_segmenter(exp.segmenter, exp.preset, exp.params)
    real = data["real"]
    if exp.strategy.needs_synthetic and "synthetic" not in data:
        raise ConfigError(f"strategy '{exp.strategy.name}' trains on synthetic data: give a "
                          "synthetic dataset")
    if exp.strategy.needs_target and "target" not in data:
        raise ConfigError(f"strategy '{exp.strategy.name}' fine-tunes on the target domain: "
                          "give a target dataset")
    for role, cases in data.items():
        if role != "real":
            check_compatible(real, cases, role, same_labels=role == "synthetic",
                             same_channel_names=exp.match_channel_names or role == "val")
    for name, cases in tests.items():
        check_compatible(real, cases, f"test set '{name}'", same_labels=False,
                         same_channel_names=exp.match_channel_names)
    check_spatial(segmenter, {**data, **tests})
    check_no_leakage(data, tests)
    return segmenter
