"""``synth2seg generator check`` and ``synth2seg segmenter check``: an adapter's conformance table.

Exit code 0 when every rule passes (or is skipped with its reason), 1 when one fails, 2 for a
user's mistake (unknown name, preset or parameter) as everywhere else.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.cli.app import Seed
from bench.run.generator_conformance import DEFAULT_DATA, Result

Data = Annotated[str, typer.Option(help="Dataset folder or phantom spec to fit / train on.")]
Preset = Annotated[str | None, typer.Option(help="Params preset.")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Override a parameter: "
                                                      "key=value.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
STATUS = {True: Text("pass", "green"), False: Text("FAIL", "bold red"),
          None: Text("skip", "dim")}


def results_table(results: list[Result], title: str) -> Table:
    """Rules, results and details as plain Text: an adapter's name or a dataset spec in the
    title or a detail is never read as markup or emoji codes."""
    table = Table(title=Text(title))
    table.add_column("rule")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in results:
        table.add_row(Text(r.rule), STATUS[r.passed], Text(r.detail))
    return table


def failed(results: list[Result]) -> list[str]:
    return [r.rule for r in results if r.passed is False]


def report(results: list[Result], title: str, console: Console) -> None:
    """Print the table; exit 1 when a rule failed."""
    console.print(results_table(results, title))
    broken = failed(results)
    if broken:
        console.print(f"{len(broken)} rule(s) failed: {', '.join(broken)}", style="bold red")
        raise typer.Exit(1)
    console.print("all rules pass", style="green")


def register(generator_app: typer.Typer, segmenter_app: typer.Typer, console: Console) -> None:
    """Add the ``check`` commands to the two command groups."""

    @generator_app.command("check")
    def generator_check(
        name: Annotated[str, typer.Argument(help="Generator name (see 'generator list').")],
        data: Data = DEFAULT_DATA, preset: Preset = "tiny", set_: Overrides = None,
        samples: Annotated[int, typer.Option("-n", min=1, help="Samples per check.")] = 2,
        seed: Seed = 0, device: Device = "cpu",
    ) -> None:
        """Run a generator through the conformance rules: fit, sample, labels, channels,
        dims, seeds, save/load, resume, dataset."""
        from bench.api.registry import get_generator
        from bench.run.config import parse_overrides
        from bench.run.devices import resolve_device
        from bench.run.generator_conformance import check_generator

        cls = get_generator(name)
        results = check_generator(cls, data, preset, parse_overrides(set_ or []), seed, samples,
                                  resolve_device(device))
        report(results, f"generator '{name}' on {data}", console)

    @segmenter_app.command("check")
    def segmenter_check(
        name: Annotated[str, typer.Argument(help="Segmenter name (see 'synth2seg list').")],
        data: Data = DEFAULT_DATA, preset: Preset = "tiny", set_: Overrides = None,
        seed: Seed = 0, device: Device = "cpu",
    ) -> None:
        """Run a segmenter through the conformance rules: train, predict, seeds, reload."""
        from bench.api.registry import get_segmenter
        from bench.run.config import parse_overrides
        from bench.run.devices import resolve_device
        from bench.run.segmenter_conformance import check_segmenter

        cls = get_segmenter(name)
        results = check_segmenter(cls, data, preset, parse_overrides(set_ or []), seed,
                                  resolve_device(device))
        report(results, f"segmenter '{name}' on {data}", console)
