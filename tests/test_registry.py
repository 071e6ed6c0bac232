"""Generators and segmenters are found by name, including those of other installed packages."""

import subprocess
import sys
import textwrap

import pytest

from bench.api import generators
from bench.api.errors import ConfigError
from bench.api.registry import Registry

PLUGIN = '''
from typing import ClassVar

import pydantic

from bench.api import FitContext, SampleContext


class EchoGenerator:
    """Returns the training cases: enough to prove the plug-in path works."""

    name: ClassVar[str] = "echo"

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
    registry = Registry("generator", "synth2seg.test-none", {"brainspade": "x:y"})
    with pytest.raises(ConfigError, match="did you mean 'brainspade'"):
        registry.get("brainspad")


def test_builtins_are_imported_lazily_by_module_path():
    registry = Registry("segmenter", "synth2seg.test-none", {"case": "bench.api.case:Case"})
    from bench.api.case import Case

    assert registry.get("case") is Case


def test_register_adds_a_class_under_its_name():
    registry = Registry("generator", "synth2seg.test-none")

    @registry.register
    class Local:
        name = "local"

    assert registry.get("local") is Local and registry.names() == ["local"]
