"""The ``synth2seg`` typer application, its command groups and the console they print to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="synth2seg: does synthetic image+mask data help segmentation?",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: build the embedded phantom, check and show any dataset.",
                       no_args_is_help=True)
generator_app = typer.Typer(help="Generators: fit on real data, sample synthetic datasets.",
                            no_args_is_help=True)
app.add_typer(data_app, name="data")
segmenter_app = typer.Typer(help="Segmenters: check an adapter.", no_args_is_help=True)
app.add_typer(generator_app, name="generator")
app.add_typer(segmenter_app, name="segmenter")
console = Console()
WEIGHTS_HELP = ("Folder with metric weights (Inception, RadImageNet, MedicalNet, AlexNet for "
                "LPIPS); the torch hub cache is searched too, and missing files are fetched "
                "there and verified unless --offline.")
OFFLINE_HELP = ("Never fetch metric weights (also SYNTH2SEG_OFFLINE=1 or fidelity.offline); "
                "metrics whose weights are missing are n/a with the reason.")
