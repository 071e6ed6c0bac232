"""The ``synth2seg`` command line.

Mistakes a user can make (bad dataset, bad config) surface as one line on stderr and exit code 2;
see :mod:`bench.api.errors`.
"""

from __future__ import annotations

import errno
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.api.errors import UserError, validated
from bench.cli import check
from bench.run.config import parse_overrides

app = typer.Typer(help="synth2seg: does synthetic image+mask data help segmentation?",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: build the embedded phantom, check and show any dataset.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
WEIGHTS_HELP = ("Folder with metric weights (Inception, RadImageNet, MedicalNet, AlexNet for "
                "LPIPS); the torch hub cache is searched too, and missing files are fetched "
                "there and verified unless --offline.")
OFFLINE_HELP = ("Never fetch metric weights (also SYNTH2SEG_OFFLINE=1 or fidelity.offline); "
                "metrics whose weights are missing are n/a with the reason.")


generator_app = typer.Typer(help="Generators: fit on real data, sample synthetic datasets.",
                            no_args_is_help=True)
app.add_typer(generator_app, name="generator")
segmenter_app = typer.Typer(help="Segmenters: check an adapter.", no_args_is_help=True)
app.add_typer(segmenter_app, name="segmenter")
check.register(generator_app, segmenter_app, console)


@data_app.command("phantom")
def data_phantom(
    out: Annotated[Path, typer.Option(help="Folder to write the nnU-Net v2 raw dataset to.")],
    subjects: Annotated[int, typer.Option(min=1)] = 20,
    site: Annotated[str, typer.Option(help="A (training T1), B (other T1), C (FLAIR).")] = "A",
    lesions: Annotated[bool, typer.Option(help="Add tumours (label 4) with oedema (5).")] = False,
    seed: int = 0,
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
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    hd95: Annotated[bool, typer.Option(help="Also compute HD95 (slower).")] = True,
) -> None:
    """Train one segmenter with one strategy and measure it on real test sets."""
    from bench.api.strategies import parse_strategy
    from bench.data import open_dataset
    from bench.data.outputs import check_out_dir
    from bench.data.split import split_cases
    from bench.data.summary import print_metrics
    from bench.run.devices import resolve_device
    from bench.run.experiment import Experiment, check_experiment, run_experiment

    check_out_dir(out)
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
    tests = {"heldout": parts["test"]} if len(parts["test"]) else {}
    for spec in test or []:
        name, _, where = spec.rpartition("=")
        tests[name or Path(where).name] = open_dataset(where)
    if not tests:
        raise UserError("no test set: give --test DIR or a --test-fraction above 0")
    check_experiment(exp, sets, tests)  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({k: v.ids for k, v in parts.items()}, indent=1))
    table = run_experiment(exp, sets, tests, out / "model")
    tmp = out / "metrics.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(out / "metrics.csv")
    print_metrics(table, console, title=f"{segmenter} · {exp.strategy.key} · dice")
    console.print(f"per-case metrics: {out / 'metrics.csv'}")


@generator_app.command("fit")
def generator_fit(
    name: Annotated[str, typer.Argument(help="Generator name (see 'synth2seg generator list').")],
    data: Annotated[str, typer.Option(help="Real dataset folder, or phantom[:SITE[:N[:MM]]].")],
    out: Annotated[Path, typer.Option(help="Generator folder (re-run to resume a fit).")],
    preset: Annotated[str | None, typer.Option(help="e.g. tiny, demo, paper.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a generator parameter: key=value.")] = None,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Fit a generator on real data; checkpoints under OUT/work, the model in OUT/model."""
    from rich.progress import Progress

    from bench.data import open_dataset
    from bench.data.outputs import check_out_dir
    from bench.run.config import GeneratorSpec
    from bench.run.devices import resolve_device
    from bench.run.generate import fit_generator

    check_out_dir(out)
    spec = GeneratorSpec(name=name, preset=preset, params=parse_overrides(set_ or []))
    cases = open_dataset(data)
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
    seed: int = 0,
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
    from bench.data.outputs import check_out_dir
    from bench.run.runner import Runner

    matrix = _matrix(config, preset, set_ or [])
    if dry_run:
        from bench.run.plan import describe

        for line in describe(matrix):
            typer.echo(line)
        return
    folder = out or Path("runs") / matrix.name
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

    table = Table(title="cells")
    for column in ("method", "seed", "status", "seconds"):
        table.add_column(column)
    for _, row in cells.iterrows():
        status = row.status if row.status == "done" else f"[red]{row.status}[/]"
        table.add_row(row.method, str(row.seed), status, f"{row.seconds or 0:.0f}")
    console.print(table)


@app.command("status")
def status(run_dir: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """What a run folder holds: cells done, failed, still to do; artifacts built."""
    from bench.run.config import load_config
    from bench.run.matrix import expand
    from bench.run.store import Store

    if not (run_dir / "results.sqlite").exists():
        raise UserError(f"{run_dir}: not a run folder (no results.sqlite)")
    store = Store(run_dir / "results.sqlite")
    try:
        cells, artifacts, manifest = store.cells(), store.artifacts(), store.manifest()
    finally:
        store.close()
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


@app.command("fidelity")
def fidelity_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    weights_dir: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
) -> None:
    """(Re)measure a run's generated samples: FID/KID, diversity, alignment, memorisation."""
    from rich.table import Table

    from bench.report.leaderboard import fidelity_summary
    from bench.run.config import load_config
    from bench.run.runner import Runner
    from bench.run.store import Store

    if not (run_dir / "results.sqlite").exists():
        raise UserError(f"{run_dir}: not a run folder (no results.sqlite)")
    store = Store(run_dir / "results.sqlite")
    try:
        manifest = store.manifest()
    finally:
        store.close()
    matrix = load_config(manifest["config"], where=str(run_dir))
    rows = Runner(matrix, run_dir, console=console, weights_dir=weights_dir,
                  offline=offline).fidelity()
    summary = fidelity_summary(rows)
    if summary.empty:
        console.print("no generated samples in this run")
        return
    table = Table("metric", *[f"{g} n={c}" for g, c in summary.index], title="fidelity")
    for metric, column in summary.T.iterrows():
        table.add_row(metric, *[v if isinstance(v, str) else f"{v:.4g}" for v in column])
    console.print(table)


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    out: Annotated[Path | None, typer.Option(help="Leaderboard folder "
                                                  "(default leaderboards/NAME).")] = None,
) -> None:
    """Write the leaderboard: CSV, Markdown, statistics, plots and index.html."""
    from bench.data.outputs import check_out_dir
    from bench.report.leaderboard import write_report
    from bench.run.store import Store

    if out is not None:
        check_out_dir(out)
    if out is None:
        if not (run_dir / "results.sqlite").exists():
            raise UserError(f"{run_dir}: not a run folder (no results.sqlite)")
        store = Store(run_dir / "results.sqlite")
        name = store.manifest().get("config", {}).get("name", run_dir.name)
        store.close()
        out = Path("leaderboards") / name
        check_out_dir(out)
    files = write_report(run_dir, out)
    print((out / "leaderboard.md").read_text())
    console.print(f"wrote {len(files)} files to {out}; open {out / 'index.html'}")


@app.command("stats")
def stats_command(
    scores: Annotated[Path, typer.Argument(help="CSV with one row per method and case.")],
    method_col: Annotated[str, typer.Option(help="Column naming the method.")] = "method",
    case_col: Annotated[str, typer.Option(help="Column naming the case (block).")] = "case",
    score_col: Annotated[str, typer.Option(help="Column with the score.")] = "score",
    lower_is_better: Annotated[bool, typer.Option(help="E.g. for HD95.")] = False,
    baseline: Annotated[str | None, typer.Option(help="Method for paired tests.")] = None,
    alpha: float = 0.05,
    out: Annotated[Path | None, typer.Option(help="Folder for the CSV tables.")] = None,
) -> None:
    """Friedman, Nemenyi, sign table and paired tests on any per-case score table."""
    import pandas as pd

    from bench.data.outputs import check_out_dir
    from bench.report import stats

    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha {alpha}: expected a significance level between 0 and 1")
    if out is not None:
        check_out_dir(out)
    if not scores.is_file():
        raise UserError(f"{scores}: file not found")
    try:
        table = pd.read_csv(scores)
    except Exception as exc:
        raise UserError(f"{scores}: not a readable CSV ({exc})") from None
    wide = stats.wide_scores(table, method_col, case_col, score_col)
    if lower_is_better:
        wide = -wide
    result = stats.friedman(wide, alpha)
    p = stats.nemenyi(wide)
    signs = stats.sign_table(wide, p, alpha)
    console.print(f"{result.describe()} {result.dropped_blocks} incomplete cases dropped.")
    console.print("mean ranks (1 = best):")
    for method, rank in result.mean_ranks.items():
        console.print(f"  {rank:6.3f}  {method}")
    console.print(signs.to_string())
    paired = stats.paired_tests(wide, baseline) if baseline else None
    if paired is not None:
        console.print(paired.to_string(index=False))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        p.to_csv(out / "nemenyi.csv")
        pd.DataFrame([result.as_row()]).to_csv(out / "friedman.csv", index=False)
        signs.to_csv(out / "signs.csv")
        result.mean_ranks.rename("mean_rank").to_csv(out / "ranks.csv")
        if paired is not None:
            paired.to_csv(out / "paired.csv", index=False)
        console.print(f"tables in {out}")


@app.command("list")
def list_command() -> None:
    """Generators, segmenters, presets and strategies this installation knows."""
    from bench.api.registry import generators, segmenters
    from bench.api.strategies import PAPER_ALIASES, STAGE_DATA
    from bench.run.config import preset_names

    console.print(f"generators: {', '.join(generators.names())}")
    console.print(f"segmenters: {', '.join(segmenters.names())}")
    console.print(f"presets: {', '.join(preset_names())}")
    console.print(f"strategy stages: {', '.join(STAGE_DATA)} (joined by '>', e.g. "
                  "synthetic>real)")
    console.print("paper aliases: " + ", ".join(f"{k}={v}" for k, v in PAPER_ALIASES.items()))


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
    leaderboard: Annotated[Path, typer.Option(help="Leaderboard folder.")
                           ] = Path("leaderboards/demo"),
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """The main job: the `demo` matrix on the embedded phantom, then its leaderboard."""
    from bench.data.outputs import check_out_dir
    from bench.report.leaderboard import write_report
    from bench.run.config import load_preset
    from bench.run.runner import Runner

    check_out_dir(out)
    check_out_dir(leaderboard, "--leaderboard")
    started = time.time()
    cells = Runner(load_preset("demo"), out, workers=workers, console=console).run()
    _print_cells(cells)
    write_report(out, leaderboard)
    print((leaderboard / "leaderboard.md").read_text())
    console.print(f"leaderboard: {leaderboard / 'index.html'} "
                  f"({time.time() - started:.0f} s in all)")


# a path the user gave cannot be written: their environment, not a bug of synth2seg
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                errno.ENOTDIR, errno.EISDIR}


def main() -> None:
    try:
        app()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT or exc.filename is None:
            raise
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
