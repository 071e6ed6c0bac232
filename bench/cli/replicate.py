"""``synth2seg replicate``: leaderboards/REPLICATION.md from the papers' claims and the committed
leaderboards (:mod:`bench.replicate.replication`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.api.errors import UserError
from bench.cli.app import app, console


@app.command("replicate")
def replicate_command(
    leaderboards: Annotated[Path, typer.Option(help="Folder of the leaderboard folders.")] =
        Path("leaderboards"),
    out: Annotated[Path | None, typer.Option(help="Where to write (default: "
                                             "LEADERBOARDS/REPLICATION.md).")] = None,
    check: Annotated[bool, typer.Option(help="Write nothing; exit 2 if the file is not what "
                                        "the leaderboards give.")] = False,
) -> None:
    """Judge every claim of the papers against the committed leaderboards."""
    import tempfile

    from bench.replicate.replication import write_replication

    if not leaderboards.is_dir():
        raise UserError(f"{leaderboards}: not a folder of leaderboards")
    out = out or leaderboards / "REPLICATION.md"
    if check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = write_replication(leaderboards, Path(scratch) / "REPLICATION.md").read_text()
        if not out.is_file() or out.read_text() != fresh:
            raise UserError(f"{out}: stale; run `synth2seg replicate` and commit the result")
        console.print(f"{out} is what the leaderboards give")
        return
    write_replication(leaderboards, out)
    console.print(f"wrote {out}")
