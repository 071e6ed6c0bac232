"""``synth2seg generator``: fit a generator, sample from it, list the known ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.app import Seed, console, generator_app, whole_output
from bench.run.config import parse_overrides


@generator_app.command("fit")
def generator_fit(
    name: Annotated[str, typer.Argument(help="Generator name (see 'synth2seg generator list').")],
    data: Annotated[str, typer.Option(help="Real dataset folder, or phantom[:SITE[:N[:MM]]].")],
    out: Annotated[Path, typer.Option(help="Generator folder (re-run to resume a fit).")],
    preset: Annotated[str | None, typer.Option(help="e.g. tiny, demo, paper.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a generator parameter: key=value.")] = None,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Fit a generator on real data; checkpoints under OUT/work, the model in OUT/model."""
    from rich.progress import Progress

    from bench.data import geometry, open_dataset
    from bench.data.outputs import check_out_dir
    from bench.run.config import GeneratorSpec
    from bench.run.devices import resolve_device
    from bench.run.generate import fit_generator

    check_out_dir(out)
    spec = GeneratorSpec(name=name, preset=preset, params=parse_overrides(set_ or []))
    cases = open_dataset(data)
    why = geometry.unplanned(cases)
    if why:  # `synth2seg run` fits generators on the planned grid; this command does not yet
        console.print(f"warning: {data}: {why}; `synth2seg run` fits generators on the "
                      "planned grid (docs/datasets.md)")
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("fit", total=None)

        def report(step: int, total: int, losses: dict) -> None:
            stage = losses.get("stage", "")
            shown = ", ".join(f"{k} {v:.3g}" for k, v in losses.items() if k != "stage")
            progress.update(task, completed=step, total=total,
                            description=f"{stage} {shown}")

        model = fit_generator(spec, cases, out, seed, resolve_device(device), report)
    console.print(f"fitted {spec.display} on {len(cases)} cases -> {model}")


@generator_app.command("sample")
def generator_sample(
    folder: Annotated[Path, typer.Argument(help="Generator folder written by 'generator fit'.")],
    n: Annotated[int, typer.Option("-n", min=1, help="Number of samples.")],
    out: Annotated[Path, typer.Option(help="Dataset folder to write (nnU-Net v2 raw layout).")],
    style: Annotated[str | None, typer.Option(
        help="Style images (folder or phantom spec), e.g. unlabelled target-domain images.")
                     ] = None,
    lesion_fraction: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Fraction of samples that carry a lesion.")] = None,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset synth2seg wrote there.")
                         ] = False,
) -> None:
    """Sample a synthetic dataset that 'synth2seg data check' accepts."""
    from bench.api.generator import SampleContext
    from bench.data import open_dataset
    from bench.data.outputs import claim_output
    from bench.data.summary import print_summary
    from bench.run.devices import resolve_device
    from bench.run.generate import sample_generator

    claim_output(out, overwrite)
    ctx = SampleContext(seed=seed, device=resolve_device(device),
                        style=open_dataset(style, labelled=False) if style else None,
                        lesion_ratio=lesion_fraction)
    with whole_output(out):
        cases = sample_generator(folder, n, ctx, out)
    print_summary(cases, console, title=f"{n} samples -> {out}")


@generator_app.command("list")
def generator_list() -> None:
    """Generators this installation knows, with their presets."""
    from bench.api.registry import generators

    for name in generators.names():
        cls = generators.get(name)
        presets = ", ".join(cls.presets) or "-"
        console.print(f"{name} (version {cls.version}; presets: {presets})")
