"""Cost: measured seconds and peak memory, and the leaderboard's cost columns."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from bench.report.columns import add_cost
from bench.run.cost import measure, rss_mb


@pytest.mark.skipif(rss_mb() is None, reason="no /proc on this system")
def test_measure_sees_a_peak_that_is_gone_when_the_block_ends():
    with measure() as cost:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.1)
        del block
    assert cost["peak_rss_mb"] >= rss_mb() + 150  # freed again, but the peak was seen
    assert cost["seconds"] >= 0.1 and "peak_gpu_mb" not in cost


def _artifact(folder, kind, label, info):
    folder.mkdir(parents=True)
    (folder / "done.json").write_text(json.dumps(info))
    return {"key": folder.name, "kind": kind, "path": str(folder), "label": label}


def test_cost_columns_come_from_cells_and_done_files(tmp_path):
    board = pd.DataFrame({"method": ["real", "g n=4", "g n=8"], "generator": ["none", "g", "g"]})
    cells = pd.DataFrame({"method": ["real", "g n=4", "g n=4", "g n=8"],
                          "status": ["done"] * 4, "seconds": [10.0, 20.0, 30.0, 40.0]})
    artifacts = pd.DataFrame([
        _artifact(tmp_path / "f0", "fit", "g", {"generator": "g", "cost": {
            "seconds": 100.0, "peak_rss_mb": 500.0}}),
        _artifact(tmp_path / "f1", "fit", "g", {"generator": "g", "cost": {
            "seconds": 300.0, "peak_rss_mb": 700.0}}),
        _artifact(tmp_path / "s0", "samples", "g n=8", {"generator": "g", "count": 8,
                                                        "cost": {"seconds": 4.0}}),
        _artifact(tmp_path / "old", "fit", "h", {"generator": "h"}),  # before costs existed
    ])
    out = add_cost(board, cells, artifacts).set_index("method")
    assert out["cost:train_s"].tolist() == [10.0, 25.0, 40.0]
    assert out.loc["g n=4", "cost:fit_s"] == 200.0 and out.loc["g n=8", "cost:peak_mb"] == 600.0
    assert out.loc["g n=4", "cost:s_per_sample"] == 0.5
    assert np.isnan(out.loc["real", "cost:fit_s"]) and "cost:peak_gpu_mb" not in out
