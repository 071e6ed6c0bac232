"""The ``synth2seg`` typer application, its command groups and the console they print to."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

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
# User text (labels, dataset specs, file names) is printed as it is: no rich markup ("[red]"),
# no emoji codes (":a:" in "phantom:A:3" became 🅰) and no highlighting; style goes in `style=`.
console = Console(markup=False, emoji=False, highlight=False)
WEIGHTS_HELP = ("Folder with metric weights (Inception, RadImageNet, MedicalNet, AlexNet for "
                "LPIPS); the torch hub cache is searched too, and missing files are fetched "
                "there and verified unless --offline.")
OFFLINE_HELP = ("Never fetch metric weights (also SYNTH2SEG_OFFLINE=1 or fidelity.offline); "
                "metrics whose weights are missing are n/a with the reason.")
# numpy and torch take unsigned 32-bit seeds: anything else is refused as a bad option value
Seed = Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Random seed, 0 to 2^32-1.")]


@contextmanager
def whole_output(path: Path) -> Iterator[None]:
    """Nothing half-written: when the block fails (a full disk, a bad case midway), what it
    wrote into ``path`` goes again, if ``path`` was new or empty before. Only for outputs that
    are written whole (datasets, tables); a fit or a run keeps its checkpoints to resume."""
    path = Path(path)
    top = None
    folder = path
    while not folder.exists() and folder != folder.parent:
        top, folder = folder, folder.parent
    was_empty = top is None and path.is_dir() and not any(path.iterdir())
    try:
        yield
    except BaseException:
        if top is not None and top.is_dir() and not top.is_symlink():
            shutil.rmtree(top, ignore_errors=True)
        elif was_empty:
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
