import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path):
    os.environ["SYNTH2SEG_CACHE"] = str(tmp_path / "cache")
