"""The house's layering holds at run time: each layer loads only the layers below it.

Run in fresh subprocesses, since this test session has long since imported everything.
"""

import subprocess
import sys

import pytest


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    "statement, forbidden",
    [
        ("import wmgym", ("mujoco", "gymnasium", "torch", "stable_baselines3", "minari")),
        ("import wmgym.tasks", ("mujoco", "gymnasium", "torch")),
        ("import wmgym.metrics", ("mujoco", "gymnasium", "torch")),
        ("import wmgym.jsonfile", ("numpy", "torch", "gymnasium")),
        ("import wmgym.model", ("mujoco", "gymnasium")),
        ("import wmgym.checkpoint", ("mujoco", "gymnasium")),
        ("import wmgym.dream", ("mujoco", "stable_baselines3", "minari")),
        ("import wmgym.train", ("mujoco", "gymnasium.envs.mujoco", "stable_baselines3")),
        # perturbation specs and the named variants are plain data: registering their ids loads no MuJoCo
        ("import wmgym.truth.perturb, wmgym.truth.variants", ("mujoco", "gymnasium", "torch")),
        ("import wmgym.gap", ("mujoco", "gymnasium", "torch")),
        # the benchmark's face, config and statistics load nothing heavy; cells load the rest when they run
        ("import wmgym.bench", ("mujoco", "gymnasium", "torch", "rliable", "ray")),
        ("import wmgym.bench.stats", ("mujoco", "gymnasium", "torch", "ray")),
    ],
)
def test_a_layer_does_not_load_the_layers_above_it(statement, forbidden):
    assert _loaded_after(statement, forbidden) == []


def test_ids_are_registered_whether_gymnasium_is_imported_before_or_after_wmgym():
    for statement in ("import gymnasium as gym, wmgym", "import wmgym, gymnasium as gym"):
        code = f"{statement}\nprint('wmgym/Reacher-v0' in gym.registry, 'wmgym/Hopper-truth-v0' in gym.registry)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        assert out.stdout.split() == ["True", "True"], statement
