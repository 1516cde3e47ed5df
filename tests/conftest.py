"""Shared fixtures. Tests write only into pytest's temporary folders."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402

from wmgym.data import collect  # noqa: E402
from wmgym.train import TrainConfig, train  # noqa: E402


@pytest.fixture(scope="session")
def dream_checkpoint(tmp_path_factory):
    """A debug-preset reacher model trained for a few steps (its held-out data gives the context)."""
    root = tmp_path_factory.mktemp("dream")
    collect("reacher", 10, root / "data", policy="ou-noise", workers=1, progress=False)
    cfg = TrainConfig(preset="debug", steps=3, batch_size=2, seq_len=8, heldout_fraction=0.2, device="cpu")
    train([root / "data"], root / "run", cfg, progress=False)
    return root / "run" / "checkpoint"


@pytest.fixture(scope="session")
def benchmark_script():
    """Import a script of benchmarks/ by name (they are scripts, not a package): ``benchmark_script("predictability")``."""
    import importlib.util
    import sys
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # a dataclass in the script looks its module up there
        spec.loader.exec_module(module)
        return module

    return load
