"""Issue 37, items 8-13: inputs that used to give wrong results with no warning are refused with
one line (or, inside a run, fail their cell with one line naming the cause)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from tests.conftest import call_cli


def _one_line_error(result, expected: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], f"{expected!r} not named in: {lines[0]}"
    return lines[0]


def _config(tmp: Path, dataset, **changes) -> str:
    config = {"name": "bad", "dataset": str(dataset), "generators": [{"name": "none"}],
              "segmenters": [{"name": "unet2d", "preset": "tiny"}], "device": "cpu", **changes}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _edit_json(root: Path, edit) -> Path:
    meta = json.loads((root / "dataset.json").read_text())
    edit(meta)
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def _relabel(root: Path, transform, dtype) -> None:
    for path in sorted((root / "labelsTr").iterdir()):
        img = nib.load(path)
        data = transform(np.asarray(img.dataobj).astype(np.int64)).astype(dtype)
        nib.save(nib.Nifti1Image(data, img.affine), path)


# ---- item 8: a test set named like the in-domain held-out split ------------------------------

@pytest.mark.parametrize("name", ["heldout", "HeldOut"])
def test_item8_test_set_named_heldout_is_refused_in_a_config(name, capsys, phantom3_dir,
                                                             other_phantom_dir, tmp_path):
    config = _config(tmp_path, phantom3_dir, test_sets={name: str(other_phantom_dir)})
    _one_line_error(call_cli(capsys, "run", config, "--dry-run"), name)


def test_item8_test_set_named_heldout_is_refused_by_train(capsys, phantom3_dir,
                                                          other_phantom_dir, tmp_path):
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out",
                      str(tmp_path / "m"), "--preset", "tiny", "--device", "cpu",
                      "--test", f"heldout={other_phantom_dir}")
    _one_line_error(result, "heldout")
    assert not (tmp_path / "m").exists()
