"""Generators and segmenters are found by name, including those of other installed packages."""

import subprocess
import sys
import textwrap

import pytest

from bench.api import generators
from bench.api.errors import ConfigError
from bench.api.generator import Generator
from bench.api.registry import Registry

PLUGIN = '''
from typing import ClassVar

import pydantic

from bench.api import FitContext, SampleContext


class EchoGenerator:
    """Returns the training cases: enough to prove the plug-in path works."""

    name: ClassVar[str] = "echo"
    version: ClassVar[str] = "1"
    spatial_dims: ClassVar[int] = 2
    presets: ClassVar[dict[str, dict]] = {}

    class Params(pydantic.BaseModel):
        pass

    def fit(self, train, ctx: FitContext):
        self.train = train

    def sample(self, n, ctx: SampleContext):
        return self.train.subset(range(n))

    def save(self, path):
        pass

    @classmethod
    def load(cls, path):
        return cls()
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A throw-away package installed (by pip, into its own folder) with an entry point."""
    src = tmp_path_factory.mktemp("plugin_src")
    (src / "echo_gen").mkdir()
    (src / "echo_gen" / "__init__.py").write_text(PLUGIN)
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "echo-gen"
        version = "0.0.1"
        [project.entry-points."synth2seg.generators"]
        echo = "echo_gen:EchoGenerator"
        [tool.setuptools]
        packages = ["echo_gen"]
    '''))
    site = tmp_path_factory.mktemp("plugin_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(src)],
                   check=True, capture_output=True)
    return site


def test_generator_of_an_installed_package_is_found_by_name(plugin_site):
    code = textwrap.dedent('''
        import numpy as np
        from bench.api.case import Case, CaseSet
        from bench.api import Generator, generators, SampleContext, FitContext
        cls = generators.get("echo")
        assert "echo" in generators.names()
        gen = cls()
        assert isinstance(gen, Generator)
        cases = CaseSet([Case(str(i), np.zeros((1, 4, 4)), np.zeros((4, 4), np.uint8), (1, 1))
                         for i in range(3)], {0: "bg"}, ["T1"], 2)
        gen.fit(cases, FitContext(workdir="."))
        print(cls.__module__, len(gen.sample(2, SampleContext())))
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": str(plugin_site), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["echo_gen", "2"]


def test_plugin_is_not_visible_without_the_package():
    assert "echo" not in generators.names()


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(ConfigError, match="did you mean 'brainspade'"):
        generators.get("brainspad")


def test_builtins_register_through_entry_points_like_plugins():
    """Built-ins are declared in pyproject.toml's entry points: one way in for every adapter."""
    from importlib.metadata import entry_points

    from bench.api import segmenters

    declared = {ep.name for ep in entry_points(group="synth2seg.generators")}
    assert {"brainspade", "b-sg", "m-sg", "c-sg", "mc-sg", "medgen3d"} <= declared
    assert {"unet2d", "unet3d", "unetr", "swin_unetr", "nnunet"} <= set(segmenters.names())


class _Conforming:
    name = "local"
    version = "1"
    spatial_dims = 2
    presets: dict = {}
    Params = object

    def fit(self, train, ctx): ...

    def sample(self, n, ctx): ...

    def save(self, path): ...

    @classmethod
    def load(cls, path): ...


def test_register_adds_a_class_under_its_name():
    registry = Registry("generator", "synth2seg.test-none", Generator)
    registry.register(_Conforming)
    assert registry.get("local") is _Conforming and registry.names() == ["local"]


def test_registration_names_every_missing_member_in_one_line():
    class Partial:  # written to the old protocol: no version, spatial_dims, presets or load
        name = "partial"
        Params = object

        def fit(self, train, ctx): ...

        def sample(self, n, ctx): ...

        def save(self, path): ...

    registry = Registry("generator", "synth2seg.test-none", Generator)
    with pytest.raises(ConfigError) as caught:
        registry.register(Partial)
    message = str(caught.value)
    assert "\n" not in message and "does not implement the Generator protocol" in message
    assert message.endswith("missing version, spatial_dims, presets, load")


def test_a_plugin_missing_a_member_is_refused_when_looked_up(plugin_site, tmp_path):
    """The same check applies to a class found through an entry point."""
    code = textwrap.dedent('''
        import echo_gen
        del echo_gen.EchoGenerator.version
        from bench.api import generators
        generators.get("echo")
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": str(plugin_site), "PATH": ""})
    assert result.returncode != 0
    assert "generator 'echo' (echo_gen:EchoGenerator) does not implement the Generator " \
           "protocol: missing version" in result.stderr


def test_capabilities_are_protocols_checked_with_isinstance():
    from bench.api import ExposesEncoder, PaintsMasks, get_generator, get_segmenter

    assert isinstance(get_generator("c-sg")(), PaintsMasks)
    assert not isinstance(get_generator("b-sg")(), PaintsMasks)
    assert isinstance(get_segmenter("unet2d")(), ExposesEncoder)
    assert not isinstance(get_segmenter("nnunet")(), ExposesEncoder)
