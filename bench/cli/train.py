"""``synth2seg train``: one segmenter, one strategy, measured on real test sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bench.api.errors import TrainingDiverged, UserError
from bench.cli.app import Seed, app, console
from bench.run.config import parse_overrides


@app.command("train")
def train(
    data: Annotated[str, typer.Option(help="Real dataset folder, or phantom[:SITE] for the "
                                           "embedded default.")],
    out: Annotated[Path, typer.Option(help="Folder for weights, split and metrics.csv.")],
    segmenter: Annotated[str, typer.Option(help="unet2d, unet3d, unetr, swin_unetr, nnunet.")
                         ] = "unet2d",
    preset: Annotated[str | None, typer.Option(help="tiny, demo or paper.")] = "demo",
    strategy: Annotated[str, typer.Option(help="e.g. real, synthetic>real, E2-5, real>target."
                                          )] = "real",
    augment: Annotated[bool, typer.Option(help="Classical augmentation on the fly.")] = False,
    synthetic: Annotated[Path | None, typer.Option(help="Synthetic dataset folder.")] = None,
    synthetic_fraction: Annotated[float | None, typer.Option(
        help="real+synthetic: draw this fraction of samples from the synthetic set.")] = None,
    target: Annotated[Path | None, typer.Option(help="Labelled target-domain set (X>target).")
                      ] = None,
    target_val_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Part of --target that picks the target stage's checkpoint.")
                                   ] = 0.25,
    test: Annotated[list[str] | None, typer.Option(
        help="Extra test set: DIR, NAME=DIR or NAME=phantom:SITE. Repeatable.")] = None,
    test_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Part of --data held out as the in-domain test set.")] = 0.25,
    val_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Part of --data used for best-checkpoint selection.")] = 0.15,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a segmenter parameter: key=value (e.g. steps=2000).")] = None,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    hd95: Annotated[bool, typer.Option(help="Also compute HD95 (slower).")] = True,
    target_spacing: Annotated[str, typer.Option(
        help="Voxel size cases are resampled to: median (nnU-Net's rule), as-stored, or X,Y,Z "
             "in mm (RAS+ order).")] = "median",
    predictions: Annotated[Path | None, typer.Option(
        help="Also write each test case's prediction to DIR/<test set>/<case id>.nii.gz, on "
             "the grid and with the affine the case was stored with.")] = None,
) -> None:
    """Train one segmenter with one strategy and measure it on real test sets."""
    from bench.api.strategies import parse_strategy
    from bench.data import geometry, open_dataset
    from bench.data.csvcells import write_csv
    from bench.data.outputs import check_out_dir
    from bench.data.split import split_cases
    from bench.data.summary import print_metrics
    from bench.run.devices import resolve_device
    from bench.run.experiment import Experiment, check_experiment, run_experiment
    from bench.run.names import HELDOUT, check_test_set_names

    check_out_dir(out)
    if predictions is not None:
        check_out_dir(predictions, "--predictions")
    spacing_rule = _spacing_rule(target_spacing)
    exp = Experiment(segmenter, parse_strategy(strategy, augment, synthetic_fraction), preset,
                     parse_overrides(set_ or []), seed, resolve_device(device), hd95)
    parts = split_cases(open_dataset(data), {"real": 1.0 - test_fraction - val_fraction,
                                             "val": val_fraction, "test": test_fraction}, seed)
    sets = {"real": parts["real"]}
    if len(parts["val"]):
        sets["val"] = parts["val"]
    if synthetic is not None:
        sets["synthetic"] = open_dataset(synthetic)
    if target is not None:
        held = split_cases(open_dataset(target), {"target": 1.0 - target_val_fraction,
                                                  "target_val": target_val_fraction}, seed)
        sets.update({k: v for k, v in held.items() if len(v)})
    extra = [(name or Path(where).name, where)
             for name, _, where in (spec.rpartition("=") for spec in test or [])]
    check_test_set_names([name for name, _ in extra], "--test")
    tests = {HELDOUT: parts["test"]} if len(parts["test"]) else {}
    for name, where in extra:
        tests[name] = open_dataset(where)
    if not tests:
        raise UserError("no test set: give --test DIR or a --test-fraction above 0")
    check_experiment(exp, sets, tests)  # before anything is written
    run_plan = geometry.plan(parts["real"], spacing_rule)
    sets = {role: geometry.apply(cases, run_plan) for role, cases in sets.items()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({k: v.ids for k, v in parts.items()}, indent=1))
    try:
        table = run_experiment(exp, sets, tests, out / "model", predictions=predictions)
    except TrainingDiverged as exc:
        raise UserError(str(exc)) from None
    tmp = out / "metrics.csv.tmp"
    write_csv(table, tmp)  # class names and case ids from the dataset: never formulas
    tmp.replace(out / "metrics.csv")
    print_metrics(table, console, title=f"{segmenter} · {exp.strategy.key} · dice")
    console.print(f"per-case metrics: {out / 'metrics.csv'}")
    if predictions is not None:
        console.print(f"predictions: {predictions}/<test set>/<case id>.nii.gz")


def _spacing_rule(text: str):
    """``median``, ``as-stored`` or ``X,Y,Z`` (millimetres) from ``--target-spacing``."""
    if text in ("median", "as-stored"):
        return text
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 < v < float("inf") for v in values):
        raise UserError(f"--target-spacing: {text!r}; expected median, as-stored or three "
                        "positive millimetres X,Y,Z")
    return values
