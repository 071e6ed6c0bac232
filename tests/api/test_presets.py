"""One preset resolution for generators and segmenters: a run, a check and a test that name the
same preset and overrides get the same params, and both kinds are built as cls(params)."""

import inspect

import pytest

from bench.api import get_generator, get_segmenter
from bench.api.errors import ConfigError
from bench.api.presets import from_preset, preset_params
from bench.run.config import GeneratorSpec, SegmenterSpec
from bench.run.generator_conformance import resolved_params
from bench.run.resolve import resolve


@pytest.mark.parametrize("kind, name, spec, overrides", [
    ("segmenter", "unet2d", SegmenterSpec, {"steps": 7}),
    ("segmenter", "nnunet", SegmenterSpec, {"epochs": 3}),
    ("generator", "b-sg", GeneratorSpec, {"steps": 5}),
])
def test_a_run_a_check_and_a_test_resolve_a_preset_alike(kind, name, spec, overrides):
    cls = (get_segmenter if kind == "segmenter" else get_generator)(name)
    direct = preset_params(cls, "tiny", overrides, kind)
    run = resolve(kind, spec(name=name, preset="tiny", params=overrides)).params
    check = resolved_params(cls, "tiny", overrides, kind)
    assert direct.model_dump(mode="json") == run == check.model_dump(mode="json")
    assert from_preset(cls, "tiny", **overrides).params == direct


def test_every_component_is_built_from_its_params_alone():
    """Segmenters took (params, preset), the preset replacing the params; generators (params)."""
    for cls in (get_segmenter(n) for n in ("unet2d", "unet3d", "unetr", "swin_unetr", "nnunet")):
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "params"]


def test_an_unknown_preset_names_the_component():
    with pytest.raises(ConfigError, match="segmenter 'unet2d': unknown preset 'huge'"):
        preset_params(get_segmenter("unet2d"), "huge", kind="segmenter")
