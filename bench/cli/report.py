"""``synth2seg fidelity``, ``report``, ``stats`` and ``list``: what a run measured, as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.api.errors import UserError
from bench.cli.app import OFFLINE_HELP, WEIGHTS_HELP, app, console


@app.command("fidelity")
def fidelity_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    weights_dir: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
) -> None:
    """(Re)measure a run's generated samples: FID/KID, diversity, alignment, memorisation."""
    from rich.table import Table

    from bench.report.columns import fidelity_summary
    from bench.run.config import load_config
    from bench.run.runner import Runner
    from bench.run.store import Store

    with Store.existing(run_dir) as store:
        manifest = store.manifest()
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
    out: Annotated[Path | None, typer.Option(help="Leaderboard folder: new, empty or an "
                                                  "earlier leaderboard (default "
                                                  "leaderboards/NAME).")] = None,
    unsealed: Annotated[bool, typer.Option(
        "--unsealed", help="Also report cells written before synth2seg sealed them; their rows "
                           "cannot be checked for edits.")] = False,
) -> None:
    """Write the leaderboard: CSV, Markdown, statistics, plots and index.html."""
    from bench.data.outputs import path_component
    from bench.report.folder import claim_folder
    from bench.report.leaderboard import write_report
    from bench.report.terminal import ranking_lines
    from bench.run.store import Store

    if out is not None:
        claim_folder(out)
    with Store.existing(run_dir) as store:
        count = store.unsealed_cells()  # write_report verifies every seal, once
        config = store.manifest().get("config")
    if out is None:  # the name comes from the store, which anyone could have edited
        name = config.get("name") if isinstance(config, dict) else run_dir.resolve().name
        out = Path("leaderboards") / path_component(name, f"{run_dir}: the config's name")
        claim_folder(out)
    if count and unsealed:
        console.print(f"warning: {count} cells of {run_dir} are unsealed (written before "
                      "synth2seg sealed cells): their rows could not be checked for edits")
    files = write_report(run_dir, out, unsealed=unsealed)
    primary = config.get("primary_metric", "dice") if isinstance(config, dict) else "dice"
    for line in ranking_lines(out / "leaderboard.csv", primary):
        console.print(line, soft_wrap=True)
    console.print(f"wrote {len(files)} files to {out}; open {out / 'index.html'} (statistics "
                  f"and verdicts: {out / 'leaderboard.md'})", soft_wrap=True)


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

    from bench.data.csvcells import read_csv, write_csv
    from bench.report import stats
    from bench.report.folder import claim_folder, write_folder

    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha {alpha}: expected a significance level between 0 and 1")
    if out is not None:
        claim_folder(out)  # new, empty, or tables synth2seg wrote: never the user's own CSVs
    if not scores.is_file():
        raise UserError(f"{scores}: file not found")
    try:
        table = read_csv(scores)  # names as written, also those neutralised for spreadsheets
    except Exception as exc:
        raise UserError(f"{scores}: not a readable CSV ({exc})") from None
    _one_row_per_method_and_case(table, method_col, case_col, scores)
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
    if paired is not None and lower_is_better:  # in the score's own units: lower is better
        paired = paired.assign(mean_difference=-paired.mean_difference)
    if paired is not None:
        console.print(paired.to_string(index=False))
    if out is not None:
        write_folder(out, lambda folder: {
            "nemenyi.csv": write_csv(p, folder / "nemenyi.csv", index=True),
            "friedman.csv": write_csv(pd.DataFrame([result.as_row()]), folder / "friedman.csv"),
            "signs.csv": write_csv(signs, folder / "signs.csv", index=True),
            "ranks.csv": write_csv(result.mean_ranks.rename("mean_rank"), folder / "ranks.csv",
                                   index=True),
            **({} if paired is None else
               {"paired.csv": write_csv(paired, folder / "paired.csv")})})
        console.print(f"tables in {out}")


def _one_row_per_method_and_case(table, method_col: str, case_col: str, path: Path) -> None:
    """Two scores of one method on one case would be averaged into one without a word (seeds
    or repeated runs pasted together): refused, naming the first pair and its rows."""
    if method_col not in table.columns or case_col not in table.columns:
        return  # wide_scores names the missing column
    repeated = table.duplicated([method_col, case_col], keep=False)
    if repeated.any():
        first = table[repeated].iloc[0]
        same = table.index[(table[method_col] == first[method_col])
                           & (table[case_col] == first[case_col])]
        rows = " and ".join(str(i + 2) for i in same[:2])  # line numbers; line 1 is the header
        raise UserError(f"{path}: method '{first[method_col]}' and case '{first[case_col]}' "
                        f"appear in rows {rows}; expected one score per method and case "
                        "(average seeds or repeats first)")


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
