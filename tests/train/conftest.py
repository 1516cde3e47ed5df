"""Fixtures of the training tests: one small dataset for the whole session."""

import pytest

from wmgym.data import collect


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """8 OU-noise reacher episodes."""
    out = tmp_path_factory.mktemp("wm") / "reacher"
    collect("reacher", 8, out, policy="ou-noise", workers=1, progress=False)
    return out
