"""``synth2seg run``, ``status`` and ``demo``: drive a matrix and say where it stands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from bench.api.errors import UserError
from bench.cli.app import OFFLINE_HELP, WEIGHTS_HELP, app, console
from bench.run.config import parse_overrides


@app.command("run")
def run(
    config: Annotated[Path | None, typer.Argument(help="Matrix config (YAML).")] = None,
    preset: Annotated[str | None, typer.Option(help="A shipped config: see `synth2seg list`.")
                      ] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/NAME).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config field: key=value, dotted for nested (split.seed=1).")
                    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Cells in parallel (local executor).")] = 1,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    force: Annotated[bool, typer.Option(help="Redo every cell (artifacts are kept).")] = False,
    weights_dir: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the expanded matrix and exit: nothing trains or is written.")
                       ] = False,
) -> None:
    """Run a benchmark matrix; re-running the same folder resumes it."""
    from bench.data.outputs import check_out_dir, path_component
    from bench.run.runner import Runner

    matrix = _matrix(config, preset, set_ or [])
    if dry_run:
        from bench.run.plan import describe

        for line in describe(matrix):
            typer.echo(line)
        return
    folder = out or Path("runs") / path_component(matrix.name, "the config's name")
    check_out_dir(folder)
    cells = Runner(matrix, folder, workers=workers, force=force, executor=executor,
                   address=address, console=console, weights_dir=weights_dir,
                   offline=offline).run()
    _print_cells(cells)
    failed = int((cells.status == "failed").sum())
    console.print(f"run folder: {folder}; next: synth2seg report {folder}")
    if failed:
        raise typer.Exit(1)


def _matrix(config: Path | None, preset: str | None, overrides: list[str]):
    from bench.run.config import load_config, load_preset

    if (config is None) == (preset is None):
        raise UserError("give a config file or --preset NAME (one of the two)")
    matrix = load_preset(preset) if preset else load_config(config)
    if not overrides:
        return matrix
    data = matrix.model_dump(mode="json")
    for key, value in parse_overrides(overrides).items():
        node = data
        *parents, leaf = key.split(".")
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {key}: '{'.'.join(parents[:depth + 1])}' is a single "
                                "value, not a group of fields")
        node[leaf] = value
    return load_config(data, where=f"preset '{preset}'" if preset else str(config))


def _print_cells(cells) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="cells")
    for column in ("method", "seed", "status", "seconds"):
        table.add_column(column)
    for _, row in cells.iterrows():
        status = Text(row.status, "" if row.status == "done" else "red")
        table.add_row(Text(row.method), str(row.seed), status, f"{row.seconds or 0:.0f}")
    console.print(table)


@app.command("status")
def status(run_dir: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """What a run folder holds: cells done, failed, still to do; artifacts built."""
    from bench.run.config import load_config
    from bench.run.matrix import expand
    from bench.run.store import Store

    with Store.existing(run_dir) as store:
        cells, artifacts, manifest = store.cells(), store.artifacts(), store.manifest()
    if not isinstance(manifest.get("config"), dict):
        raise UserError(f"{run_dir}: its results store records no config (damaged run folder)")
    total = len(expand(load_config(manifest["config"], where=str(run_dir))))
    done = int((cells.status == "done").sum())
    failed = int((cells.status == "failed").sum())
    console.print(f"{run_dir}: {done}/{total} cells done, {failed} failed, "
                  f"{total - done - failed} to do", soft_wrap=True)
    _print_cells(cells)
    for _, row in artifacts.iterrows():
        console.print(f"artifact {row.kind} {row.label}: built {row.builds}x, "
                      f"{(row.bytes or 0) / 1e6:.1f} MB", soft_wrap=True)
    components = manifest.get("components", {})
    for component in components.get("generators", []) + components.get("segmenters", []):
        params = ", ".join(f"{k}={v}" for k, v in sorted(component["params"].items()))
        console.print(f"{component['kind']} {component['name']} (preset "
                      f"{component['preset'] or 'none'}, version {component['version']}, id "
                      f"{component['identity']}): {params or 'no params'}", soft_wrap=True,
                      markup=False)



@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
    leaderboard: Annotated[Path, typer.Option(help="Leaderboard folder.")
                           ] = Path("leaderboards/demo"),
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """The main job: the `demo` matrix on the embedded phantom, then its leaderboard."""
    from bench.data.outputs import check_out_dir
    from bench.report.folder import claim_folder
    from bench.report.leaderboard import write_report
    from bench.report.terminal import ranking_lines
    from bench.run.config import load_preset
    from bench.run.runner import Runner

    check_out_dir(out)
    claim_folder(leaderboard, "--leaderboard")  # before the run, not after it
    started = time.time()
    config = load_preset("demo")
    cells = Runner(config, out, workers=workers, console=console).run()
    _print_cells(cells)
    write_report(out, leaderboard)
    for line in ranking_lines(leaderboard / "leaderboard.csv", config.primary_metric):
        console.print(line, soft_wrap=True)
    console.print(f"leaderboard: {leaderboard / 'index.html'} (statistics and verdicts: "
                  f"{leaderboard / 'leaderboard.md'}; {time.time() - started:.0f} s in all)",
                  soft_wrap=True)
