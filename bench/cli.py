"""The ``synth2seg`` command line.

Mistakes a user can make (bad dataset, bad config) surface as one line on stderr and exit code 2;
see :mod:`bench.errors`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.errors import UserError

app = typer.Typer(help="synth2seg: does synthetic image+mask data help segmentation?",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: build the embedded phantom, check and show any dataset.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()


def _not_yet(group: str, issue: int):
    def command() -> None:
        raise UserError(f"'synth2seg {group}' is not available in this version yet "
                        f"(it arrives with issue #{issue})")
    return command


for _group, _issue, _help in (
    ("generator", 5, "Fit and sample generators (not available yet)."),
    ("run", 4, "Run a benchmark matrix (not available yet)."),
    ("report", 4, "Turn a run into a leaderboard (not available yet)."),
    ("stats", 4, "Statistical tests on a run (not available yet)."),
):
    app.command(_group, help=_help)(_not_yet(_group, _issue))


@data_app.command("phantom")
def data_phantom(
    out: Annotated[Path, typer.Option(help="Folder to write the nnU-Net v2 raw dataset to.")],
    subjects: Annotated[int, typer.Option(min=1)] = 20,
    site: Annotated[str, typer.Option(help="A (training T1), B (other T1), C (FLAIR).")] = "A",
    lesions: Annotated[bool, typer.Option(help="Add tumours (label 4) with oedema (5).")] = False,
    seed: int = 0,
    resolution: Annotated[float, typer.Option(help="Isotropic voxel size in mm.")] = 2.0,
    channels: Annotated[str | None, typer.Option(help="Comma-separated: T1,T2,FLAIR.")] = None,
) -> None:
    """Build the embedded brain phantom and write it as an nnU-Net v2 raw dataset."""
    from bench.data import write_nnunet
    from bench.data.phantom import PhantomConfig, make_phantom
    from bench.summary import print_summary

    config = _phantom_config(PhantomConfig, subjects=subjects, site=site, lesions=lesions,
                             seed=seed, resolution=resolution,
                             channels=tuple(channels.split(",")) if channels else None)
    cases = make_phantom(config)
    write_nnunet(cases, out, name=f"phantom_site{site}")
    print_summary(cases, console, title=f"phantom site {site} -> {out}")


def _phantom_config(cls, **fields):
    import pydantic

    try:
        return cls(**fields)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"phantom option '{err['loc'][0]}': {err['msg']}") from None


@data_app.command("check")
def data_check(path: Annotated[Path, typer.Argument(help="Dataset folder.")]) -> None:
    """Validate a dataset (nnU-Net v2 raw or MSD layout) and print what it holds."""
    from bench.data import load_dataset
    from bench.summary import print_summary

    print_summary(load_dataset(path), console, title=str(path))


@data_app.command("show")
def data_show(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")],
    cases: Annotated[int, typer.Option(min=1, help="How many cases to show.")] = 8,
) -> None:
    """Write a montage of images with their label overlays."""
    from bench.data import load_dataset
    from bench.montage import save_montage

    save_montage(load_dataset(path), out, max_cases=cases)
    console.print(f"wrote {out}")


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
    test: Annotated[list[str] | None, typer.Option(
        help="Extra test set: DIR, NAME=DIR or NAME=phantom:SITE. Repeatable.")] = None,
    test_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Part of --data held out as the in-domain test set.")] = 0.25,
    val_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Part of --data used for best-checkpoint selection.")] = 0.15,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a segmenter parameter: key=value (e.g. steps=2000).")] = None,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    hd95: Annotated[bool, typer.Option(help="Also compute HD95 (slower).")] = True,
) -> None:
    """Train one segmenter with one strategy and measure it on real test sets."""
    from bench.data import open_dataset
    from bench.devices import resolve_device
    from bench.experiment import Experiment, run_experiment
    from bench.split import split_cases
    from bench.strategies import parse_strategy
    from bench.summary import print_metrics

    exp = Experiment(segmenter, parse_strategy(strategy, augment, synthetic_fraction), preset,
                     _overrides(set_ or []), seed, resolve_device(device), hd95)
    parts = split_cases(open_dataset(data), {"real": 1.0 - test_fraction - val_fraction,
                                             "val": val_fraction, "test": test_fraction}, seed)
    sets = {"real": parts["real"]}
    if len(parts["val"]):
        sets["val"] = parts["val"]
    for role, path in (("synthetic", synthetic), ("target", target)):
        if path is not None:
            sets[role] = open_dataset(path)
    tests = {"heldout": parts["test"]} if len(parts["test"]) else {}
    for spec in test or []:
        name, _, where = spec.rpartition("=")
        tests[name or Path(where).name] = open_dataset(where)
    if not tests:
        raise UserError("no test set: give --test DIR or a --test-fraction above 0")
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({k: v.ids for k, v in parts.items()}, indent=1))
    table = run_experiment(exp, sets, tests, out / "model")
    tmp = out / "metrics.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(out / "metrics.csv")
    print_metrics(table, console, title=f"{segmenter} · {exp.strategy.key} · dice")
    console.print(f"per-case metrics: {out / 'metrics.csv'}")


def _overrides(items: list[str]) -> dict:
    """``key=value`` pairs, values parsed as YAML scalars or lists (``patch=[64,64]``)."""
    import yaml

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set '{item}': expected key=value")
        params[key.strip()] = yaml.safe_load(value)
    return params


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
) -> None:
    """The main job on the embedded default: for now, build and check the phantom."""
    from bench.data import load_dataset, write_nnunet
    from bench.data.phantom import PhantomConfig, make_phantom
    from bench.montage import save_montage
    from bench.summary import print_summary

    folder = out / "phantom_siteA"
    write_nnunet(make_phantom(PhantomConfig(subjects=6)), folder, name="phantom_siteA")
    cases = load_dataset(folder)
    print_summary(cases, console, title=f"embedded phantom, site A -> {folder}")
    save_montage(cases, out / "phantom_siteA.png")
    console.print(f"montage: {out / 'phantom_siteA.png'}")


def main() -> None:
    try:
        app()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
