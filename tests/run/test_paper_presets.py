"""The papers' experiments as presets: every arm of each table, a CPU twin with the same arms."""

from __future__ import annotations

import pytest

from bench.api.strategies import parse_strategy
from bench.data import _phantom_config, open_dataset
from bench.data.phantom import subject_id
from bench.run.config import load_preset, preset_names
from bench.run.matrix import expand
from tests.conftest import call_cli

PAPER = ["brainspade-3.1", "brainspade-3.2-near", "brainspade-3.2-far", "brainspade-3.3",
         "medgen3d-e2", "medgen3d-e3", "vu-sweep"]


def _arms(name: str) -> set[tuple]:
    """What a method is, without its scale: source label, unit, strategy, augmentation,
    segmenter name."""
    return {(c.generator.label, c.generator.count_unit, c.generator.style is not None,
             c.strategy.key, c.segmenter.name, c.count > 0) for c in expand(load_preset(name))}


@pytest.mark.parametrize("name", PAPER)
def test_every_paper_preset_has_a_cpu_twin_with_the_same_arms(name):
    paper, cpu = load_preset(name), load_preset(f"{name}-cpu")
    assert set(cpu.test_sets) == set(paper.test_sets)
    assert (cpu.target is None) == (paper.target is None)
    assert cpu.strategies == paper.strategies and cpu.augmentation == paper.augmentation
    # a twin may trim counts to fit its CPU budget (its header says which), never add one
    assert 1 <= len(cpu.counts) <= len(paper.counts)
    assert cpu.lesion_fraction == paper.lesion_fraction
    assert cpu.match_channel_names == paper.match_channel_names
    paper_arms = {a if a[4] != "nnunet" else a[:4] + ("unet2d",) + a[5:] for a in _arms(name)}
    # ... and may drop segmenters the same way (never add one): every arm of the paper for the
    # segmenters it keeps
    kept = {s.name for s in cpu.segmenters}
    assert kept <= {a[4] for a in paper_arms}
    assert {a for a in paper_arms if a[4] in kept} == _arms(f"{name}-cpu")


def test_every_shipped_preset_is_a_paper_preset_its_twin_or_a_harness_one():
    expected = set(PAPER) | {f"{n}-cpu" for n in PAPER} | {"demo", "smoke"}
    assert set(preset_names()) == expected


def test_vu_sweep_has_the_papers_26_methods_and_the_oracle_at_every_count_in_patients():
    config = load_preset("vu-sweep")
    cells = expand(config)
    paper = {c.method for c in cells if c.generator.name != "phantom-oracle"}
    assert len(paper) == 26  # BL, B-SG and MC-SG at six counts, with and without augmentation
    oracle = {(c.count, c.strategy.key) for c in cells if c.generator.name == "phantom-oracle"}
    assert oracle == {(n, s) for n in config.counts
                      for s in ("real+synthetic", "real+synthetic+aug:vu")}
    assert config.counts == [20, 50, 100, 200, 400, 500]
    assert {c.generator.count_unit for c in cells if c.count} == {"cases"}
    assert (config.split.val, config.split.test) == (0.2, 0.2)  # 60 / 20 / 20
    assert {c.strategy.augment for c in cells} == {"none", "vu"}


def test_brainspade_3_2_has_style_arms_and_an_ood_reference():
    for part, site in (("near", "B"), ("far", "C")):
        config = load_preset(f"brainspade-3.2-{part}")
        styles = [g for g in config.generators if g.style and g.name == "brainspade"]
        assert [g.label for g in styles] == [f"S_{part[0]}-ood"]
        assert _phantom_config(styles[0].style).site == site
        assert _phantom_config(config.target).site == site  # R_ood: the target alone
        assert "target" in config.strategies
        assert {_phantom_config(s).site for s in config.test_sets.values()} == {site}


@pytest.mark.parametrize("name", [f"brainspade-3.2-{part}{twin}" for part in ("near", "far")
                                  for twin in ("", "-cpu")])
def test_brainspade_3_2_oracle_control_is_styled_as_the_generator_arm(name):
    # the positive control: real target-site subjects as samples (a perfect styling) beside
    # unstyled ones, at the generator's count and strategy
    config = load_preset(name)
    part = name.split("-")[2][0]
    styled = {g.label: g.style for g in config.generators if g.name == "brainspade" and g.style}
    oracles = {g.label: g.style for g in config.generators if g.name == "phantom-oracle"}
    assert oracles == {"Oracle": None, f"Oracle_{part}-ood": styled[f"S_{part}-ood"]}


def test_brainspade_3_3_samples_lesions_on_t1_and_flair():
    config = load_preset("brainspade-3.3")
    spec = _phantom_config(config.dataset)
    assert spec.lesions and spec.sequences == ("T1", "FLAIR")
    assert config.lesion_fraction == 0.5
    assert set(config.strategies) == {"real", "synthetic", "real+synthetic"}
    # the positive control samples lesioned subjects in the generator's style
    style = {g.name: g.style for g in config.generators if g.name != "none"}
    assert style["phantom-oracle"] == style["brainspade"] is not None


def test_a_lesion_phantom_spec_gives_lesion_labels_and_both_channels():
    cases = open_dataset("phantom:A:1:4:T1+FLAIR:lesions:seed=5")
    assert cases.channels == ["T1", "FLAIR"]
    assert {"tumour", "oedema"} <= set(cases.labels.values())
    assert cases[0].meta["lesion"] and (cases[0].label >= 4).any()
    assert not {"tumour"} & set(open_dataset("phantom:A:1:4").labels.values())


@pytest.mark.parametrize("name", preset_names())
def test_no_phantom_subject_of_a_preset_is_both_seen_and_tested(name):
    """Dataset, target and style subjects never coincide with test subjects (by id)."""
    config = load_preset(name)

    def ids(spec: str) -> set[str]:
        parsed = _phantom_config(spec)
        return {subject_id(parsed, i) for i in range(parsed.subjects)}

    tests = set().union(*(ids(s) for s in config.test_sets.values()), set())
    seen = [config.dataset] + ([config.target] if config.target else []) + \
        [g.style for g in config.generators if g.style]
    for spec in seen:
        assert not ids(spec) & tests, spec


def test_dry_run_prints_the_matrix_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "run"
    result = call_cli(capsys, "run", "--preset", "brainspade-3.2-near", "--dry-run",
                      "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "matrix brainspade-3.2-near: 18 cells" in text  # 6 arms (2 oracle) x 3 seeds
    assert "near_siteB: phantom:B:25" in text and "heldout" in text
    assert "style sets: phantom:B:25:seed=2" in text
    assert "target: phantom:B:6:seed=1" in text
    assert "augmentation sets: nnunet" in text and "seeds: [0, 1, 2]" in text
    assert '"configuration": "2d"' in text  # resolved segmenter params
    assert "S_n-ood n=300 cases · synthetic+aug:nnunet · nnunet:paper" in text
    assert "Oracle_n-ood n=300 cases · synthetic+aug:nnunet · nnunet:paper" in text
    assert not out.exists()


def _real_only(strategy) -> tuple:
    """The stages of a strategy with every synthetic source replaced by real data."""
    return tuple("real" if "synthetic" in s.data else s.data for s in strategy.stages)


@pytest.mark.parametrize("name", PAPER + [f"{n}-cpu" for n in PAPER])
def test_every_paper_preset_has_its_controls_and_twenty_test_volumes(name):
    """Issue 33's design: the phantom-oracle arm, an exposure control (the same stages on real
    data only) for every strategy that trains on synthetic data, and at least 20 volumes in
    every test set."""
    config = load_preset(name)
    assert "phantom-oracle" in {g.name for g in config.generators}
    strategies = [parse_strategy(s) for s in config.strategies]
    real = {_real_only(s) for s in strategies if not s.needs_synthetic}
    for strategy in strategies:
        if strategy.needs_synthetic:
            assert _real_only(strategy) in real, f"{strategy.name}: no exposure control"
    subjects = _phantom_config(config.dataset).subjects
    tests = [round(config.split.test * subjects)] if config.split.test else []
    tests += [_phantom_config(spec).subjects for spec in config.test_sets.values()]
    assert tests and min(tests) >= 20, tests
