"""wmgym: robotics simulation backed by a learned world model, calibrated against MuJoCo.

``import wmgym`` is light: it registers the gymnasium ids (``wmgym/Reacher-v0``,
``wmgym/Reacher-truth-v0``, ...) as soon as gymnasium is imported, before or after wmgym, and loads
each public name below on first use. So ``import wmgym.model`` pulls in neither gymnasium nor
MuJoCo, and ``import wmgym.dream`` no MuJoCo (tests/test_layering.py holds the house to that).
"""

import os
from importlib.metadata import PackageNotFoundError, version

import wrapt

from wmgym._lazy import lazy_names

# Headless rendering through EGL (Mesa's llvmpipe on a CPU machine). mujoco picks its GL backend
# when it is first imported, so this must run before anything imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")

try:
    __version__ = version("wmgym")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {
    "DreamEnv": "wmgym.dream.env",
    "DreamVectorEnv": "wmgym.dream.vector_env",
    "TaskSpec": "wmgym.tasks",
    "TruthEnv": "wmgym.truth.env",
    "dream_env_id": "wmgym.ids",
    "get_task": "wmgym.tasks",
    "list_tasks": "wmgym.tasks",
    "sb3_vec_env": "wmgym.dream.sb3",
    "truth_env_id": "wmgym.ids",
    "zoo_models": "wmgym.zoo",
}


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)


@wrapt.when_imported("gymnasium")
def _register(_gymnasium) -> None:
    from wmgym._registration import register_envs

    register_envs()


__all__ = sorted([*_PUBLIC, "__version__"])
