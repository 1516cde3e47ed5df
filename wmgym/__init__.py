"""wmgym: robotics simulation backed by a learned world model, calibrated against MuJoCo.

Importing wmgym registers its gymnasium ids, e.g. ``gymnasium.make("wmgym/Reacher-truth-v0")``.
"""

import os

# Headless rendering through EGL (Mesa's llvmpipe on a CPU machine). mujoco picks its GL backend
# when it is first imported, so this must run before anything imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")

from wmgym._registration import dream_env_id, register_envs, truth_env_id  # noqa: E402
from wmgym.truth import TaskSpec, TruthEnv, get_task, list_tasks  # noqa: E402

__version__ = "0.1.0"
from wmgym.dream import DreamEnv, DreamVectorEnv, sb3_vec_env, zoo_models  # noqa: E402

__all__ = [
    "DreamEnv",
    "DreamVectorEnv",
    "TaskSpec",
    "TruthEnv",
    "__version__",
    "dream_env_id",
    "get_task",
    "list_tasks",
    "sb3_vec_env",
    "truth_env_id",
    "zoo_models",
]

register_envs()
