"""Optional sampling inputs (style, lesion ratio, channel choice) are declared capabilities of a
generator; the matrix refuses to ask a generator for one it does not declare."""

from __future__ import annotations

from typing import ClassVar

import pytest

from bench.api.errors import ConfigError
from bench.api.generator import CHANNELS, LESION_RATIO, STYLE, sampling_options
from bench.api.registry import generators
from bench.run.config import load_config
from bench.run.matrix import expand

STYLED = "phantom:B:2:seed=2"


def _matrix(generator: dict, **extra) -> dict:
    return {"name": "options", "generators": [generator], "counts": [4],
            "strategies": ["synthetic"], **extra}


def test_a_generator_asked_for_a_capability_it_lacks_is_refused():
    """A ``style:`` entry on b-sg (which ignores style) became a method whose samples were the
    unstyled ones; now the matrix refuses it in one line naming generator and capability."""
    config = load_config(_matrix({"name": "b-sg", "preset": "tiny", "style": STYLED}))
    with pytest.raises(ConfigError) as error:
        expand(config)
    message = str(error.value)
    assert message.startswith("generator 'b-sg:tiny' (b-sg) cannot take a 'style:' entry")
    assert "\n" not in message
    lesions = load_config(_matrix({"name": "medgen3d", "preset": "tiny"}, lesion_fraction=0.0))
    with pytest.raises(ConfigError, match="'medgen3d:tiny'.*lesion_fraction"):
        expand(lesions)


def test_what_a_generator_declares_it_is_asked_for():
    styled = expand(load_config(_matrix({"name": "brainspade", "preset": "tiny",
                                         "style": STYLED}, lesion_fraction=0.5)))
    assert {c.generator.style for c in styled} == {STYLED}
    assert expand(load_config(_matrix({"name": "c-sg", "preset": "tiny", "style": STYLED})))
    far = _matrix({"name": "c-sg", "preset": "tiny", "style": STYLED},
                  match_channel_names=False)
    assert expand(load_config(far))  # c-sg paints in the channels asked for
    plain = expand(load_config(_matrix({"name": "b-sg", "preset": "tiny"})))
    assert plain


def test_built_in_generators_declare_what_their_sample_code_honours():
    declared = {name: sampling_options(generators.get(name)) for name in
                ("none", "phantom-oracle", "brainspade", "b-sg", "m-sg", "c-sg", "mc-sg",
                 "medgen3d", "folder")}
    assert declared == {
        "none": set(), "phantom-oracle": {STYLE, LESION_RATIO, CHANNELS}, "m-sg": set(),
        "brainspade": {STYLE, LESION_RATIO, CHANNELS}, "c-sg": {STYLE, CHANNELS},
        "b-sg": {CHANNELS}, "mc-sg": {CHANNELS}, "medgen3d": {CHANNELS}, "folder": {CHANNELS}}


class _Plain:
    """A third-party generator that declares nothing: no optional sampling inputs."""

    name: ClassVar[str] = "plain-third-party"
    version: ClassVar[str] = "1"
    spatial_dims: ClassVar[int] = 2
    Params: ClassVar[type] = type(load_config({"name": "x"}).report)
    presets: ClassVar[dict[str, dict]] = {}

    def __init__(self, params=None):
        self.params = params

    def fit(self, train, ctx):
        pass

    def sample(self, n, ctx):
        raise NotImplementedError

    def save(self, path):
        pass

    @classmethod
    def load(cls, path):
        return cls()


def test_a_third_party_generator_has_no_optional_capabilities_by_default():
    assert sampling_options(_Plain) == frozenset()
    generators.register(_Plain)
    try:
        with pytest.raises(ConfigError, match="'plain-third-party'.*style"):
            expand(load_config(_matrix({"name": "plain-third-party", "style": STYLED})))
        with pytest.raises(ConfigError, match="'plain-third-party'.*lesion_fraction"):
            expand(load_config(_matrix({"name": "plain-third-party"}, lesion_fraction=0.5)))
    finally:
        generators.unregister("plain-third-party")


def test_an_unknown_capability_is_refused_at_registration():
    class Typo(_Plain):
        name: ClassVar[str] = "typo"
        sampling_options: ClassVar[frozenset[str]] = frozenset({"styles"})

    with pytest.raises(ConfigError, match="unknown sampling_options styles"):
        generators.register(Typo)
    generators.unregister("typo")
