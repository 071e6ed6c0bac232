"""Published leaderboards are read on other machines: no path of the machine that wrote them."""

import re
from pathlib import Path

import pandas as pd

from bench.fidelity.catalogue import Row
from bench.report.leaderboard import write_report
from bench.report.markup import portable
from bench.run.store import Store
from tests.fake_runs import write_fake_run

ROOT = Path(__file__).resolve().parents[2]
MACHINE_PATH = re.compile(r"(?<![\w.$<>~-])/(root|tmp|home|work|Users)/")


def test_published_files_carry_no_machine_paths():
    found = []
    for path in sorted((ROOT / "leaderboards").rglob("*")):
        if path.suffix in {".csv", ".md", ".html", ".json"}:
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if MACHINE_PATH.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    assert not found, f"machine paths in {found[:5]}"


def test_notes_name_the_torch_hub_as_a_placeholder(tmp_path, monkeypatch):
    hub = tmp_path / "home" / ".cache" / "torch"
    monkeypatch.setenv("TORCH_HOME", str(hub))
    note = f"copy weights.pth into {hub}/hub/checkpoints by hand, or pass --offline"
    run = write_fake_run(tmp_path / "run", {"G": 0.02})
    with Store(run / "results.sqlite") as store:
        store.record_fidelity("fit-x", "G", 0, 10, [Row(metric="fid", value=None, note=note)])
    files = write_report(run, tmp_path / "board")
    for name in ("fidelity.csv", "leaderboard.md", "index.html"):
        text = files[name].read_text()
        assert str(hub) not in text, name
    assert "$TORCH_HOME/hub/checkpoints" in pd.read_csv(files["fidelity.csv"]).note.dropna() \
        .iloc[0]
    assert "$TORCH_HOME" not in portable(f"{hub}x/y")  # the folder itself, not a longer name
