"""Matrix configs: validation with one clear line, presets, expansion into cells."""

import pytest

from bench.api.errors import ConfigError
from bench.run.config import load_config, load_preset, preset_names
from bench.run.matrix import expand
from tests.conftest import call_cli
from tests.suites.test_bad_inputs import _assert_one_line_error

BASE = {"name": "t", "generators": [{"name": "none"}, {"name": "phantom-oracle"}],
        "counts": [5, 10], "strategies": ["real", "synthetic", "real+synthetic>real"],
        "augmentation": [False, True], "seeds": [0, 1]}


def test_unknown_key_suggests_the_nearest_field():
    with pytest.raises(ConfigError, match="unknown field 'stratgies'; did you mean 'strategies'"):
        load_config({**BASE, "stratgies": ["real"]})


def test_unknown_nested_key_names_its_path():
    with pytest.raises(ConfigError, match=r"unknown field 'split.tset'; did you mean 'test'"):
        load_config({**BASE, "split": {"tset": 0.2}})


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match="field 'counts.0'"):
        load_config({**BASE, "counts": ["many"]})


def test_every_shipped_preset_validates_and_expands():
    assert {"smoke", "demo", "vu-sweep", "medgen3d-e2", "brainspade-3.1"} <= set(preset_names())
    for name in preset_names():
        assert load_preset(name).name == name
        assert expand(load_preset(name)), name


def test_real_only_strategies_run_once_synthetic_ones_per_generator_and_count():
    cells = expand(load_config(BASE))
    real = [c for c in cells if c.strategy.name == "real"]
    assert len(real) == 2 * 2  # augmentation x seeds, no generator, count 0
    assert all(c.count == 0 and c.generator.name == "none" for c in real)
    synthetic = [c for c in cells if c.strategy.needs_synthetic]
    assert len(synthetic) == 2 * 2 * 2 * 2  # strategies x counts x augmentation x seeds
    assert all(c.generator.name == "phantom-oracle" for c in synthetic)
    assert len({c.key for c in cells}) == len(cells)
    assert [c.key for c in cells] == [c.key for c in expand(load_config(BASE))]


def test_seeds_share_a_method_row():
    cells = expand(load_config(BASE))
    assert len({c.method for c in cells}) == len(cells) // 2


def test_empty_matrix_and_missing_target_are_config_errors():
    with pytest.raises(ConfigError, match="the matrix is empty"):
        expand(load_config({**BASE, "strategies": []}))
    with pytest.raises(ConfigError, match="set 'target'"):
        expand(load_config({**BASE, "strategies": ["real>target"]}))


@pytest.mark.parametrize(("content", "expected"), [
    ("name: x\nsegmenters: [{name: unet4d}]\n", "unknown segmenter 'unet4d'"),
    ("name: x\ngenerators: [{name: brainspaed}]\nstrategies: [synthetic]\n",
     "unknown generator 'brainspaed'"),
    ("name: x\nstrategies: [real>>real]\n", "unknown stage ''"),
    ("name: x\nsegmenters: [{name: unet2d, params: {stepz: 1}}]\n", "parameter 'stepz'"),
    ("name: x\ncounts: 5\n", "field 'counts'"),
    ("name: x\nstrategies: []\n", "the matrix is empty"),
    ("name: [x\n", "not valid YAML"),
])
def test_malformed_config_is_one_line_and_exit_2(content, expected, tmp_path, capsys):
    path = tmp_path / "matrix.yaml"
    path.write_text(content)
    result = call_cli(capsys, "run", str(path), "--out", str(tmp_path / "run"))
    _assert_one_line_error(result, expected)


def test_a_config_naming_a_missing_generator_says_which(capsys, tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("name: x\ngenerators: [{name: no-such-generator}]\n")
    result = call_cli(capsys, "run", str(path), "--out", str(tmp_path / "run"))
    _assert_one_line_error(result, "unknown generator 'no-such-generator'")


def test_unknown_preset_suggests_one(capsys):
    _assert_one_line_error(call_cli(capsys, "run", "--preset", "smok"), "did you mean 'smoke'")


def test_nsd_tolerance_is_part_of_the_cell_key_only_when_nsd_is_measured():
    data = load_preset("demo").model_dump(mode="json")
    data["metrics"] = [m for m in data["metrics"] if m != "nsd"]
    without = {**data, "nsd_tolerance": 3.0}
    assert load_config(without).key() == load_config(data).key()  # no NSD: keys stay
    with_nsd = {**data, "metrics": [*data["metrics"], "nsd"]}
    assert load_config(with_nsd).key() != load_config({**with_nsd, "nsd_tolerance": 3.0}).key()
    per_class = load_config({**with_nsd, "nsd_tolerance": {"wm": 1.0, "default": 2.0}})
    assert per_class.nsd_tolerance == {"wm": 1.0, "default": 2.0}


def test_report_options_do_not_change_the_cell_key():
    demo = load_preset("demo")
    data = demo.model_dump(mode="json")
    assert load_config({**data, "report": {"resamples": 200, "rope": 0.02}}).key() == demo.key()


def test_fidelity_extractors_and_planes_are_checked_by_name():
    config = load_config({"name": "x", "fidelity": {"extractors": ["radimagenet", "medicalnet"],
                                                    "planes": ["axial"], "offline": True}})
    assert config.fidelity.extractors == ["radimagenet", "medicalnet"] and config.fidelity.offline
    assert load_config({"name": "x"}).fidelity.extractors == ["inception", "in-domain"]
    with pytest.raises(ConfigError, match="fidelity.extractors.0"):
        load_config({"name": "x", "fidelity": {"extractors": ["radimagenett"]}})
    with pytest.raises(ConfigError, match="fidelity.planes"):
        load_config({"name": "x", "fidelity": {"planes": []}})


def test_new_fields_at_their_defaults_keep_the_cell_keys_of_earlier_runs():
    """``hd95_worst_mm`` (None: the image diagonal) and ``target_spacing`` (median) came after
    runs whose folders users resume: at their defaults the key is the one the smoke preset had
    before them (commit 9964e40); a declared worst-case distance changes every cell."""
    smoke = load_preset("smoke")
    assert smoke.key() == "7aeaa09a2df33fe8"
    data = smoke.model_dump(mode="json")
    assert load_config({**data, "hd95_worst_mm": 374.0}).key() != smoke.key()
