"""``synth2seg data``: build the embedded phantom, check and show any dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.api.errors import validated
from bench.cli.app import Seed, console, data_app, whole_output


@data_app.command("phantom")
def data_phantom(
    out: Annotated[Path, typer.Option(help="Folder to write the nnU-Net v2 raw dataset to.")],
    subjects: Annotated[int, typer.Option(min=1)] = 20,
    site: Annotated[str, typer.Option(help="A (training T1), B (other T1), C (FLAIR).")] = "A",
    lesions: Annotated[bool, typer.Option(help="Add tumours (label 4) with oedema (5).")] = False,
    seed: Seed = 0,
    resolution: Annotated[float, typer.Option(help="Isotropic voxel size in mm.")] = 2.0,
    channels: Annotated[str | None, typer.Option(help="Comma-separated: T1,T2,FLAIR.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset synth2seg wrote there.")
                         ] = False,
) -> None:
    """Build the embedded brain phantom and write it as an nnU-Net v2 raw dataset."""
    from bench.data import write_nnunet
    from bench.data.outputs import claim_output
    from bench.data.phantom import PhantomConfig, make_phantom
    from bench.data.summary import print_summary

    fields = {"subjects": subjects, "site": site, "lesions": lesions, "seed": seed,
              "resolution": resolution,
              "channels": tuple(channels.split(",")) if channels else None}
    config = validated(PhantomConfig, fields, "phantom option")
    claim_output(out, overwrite)
    cases = make_phantom(config)
    with whole_output(out):
        write_nnunet(cases, out, name=f"phantom_site{site}", overwrite=True)
    print_summary(cases, console, title=f"phantom site {site} -> {out}")


@data_app.command("check")
def data_check(path: Annotated[Path, typer.Argument(help="Dataset folder.")]) -> None:
    """Validate a dataset (nnU-Net v2 raw or MSD layout) and print what it holds."""
    from bench.data import load_dataset
    from bench.data.summary import print_summary

    print_summary(load_dataset(path), console, title=str(path))


@data_app.command("show")
def data_show(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")],
    cases: Annotated[int, typer.Option(min=1, help="How many cases to show.")] = 8,
) -> None:
    """Write a montage of images with their label overlays."""
    from bench.data import load_dataset
    from bench.data.outputs import check_out_file
    from bench.fidelity.montage import FORMATS, save_montage

    check_out_file(out, FORMATS)
    save_montage(load_dataset(path), out, max_cases=cases)
    console.print(f"wrote {out}")
