"""The MuJoCo side: task specs, the task suite, pixel rendering and restorable physics state."""

from wmgym.truth.env import TruthEnv
from wmgym.truth.spec import CameraSpec, RenderSpec, StateComponent, TaskSpec, Tolerance, TrustSpec
from wmgym.truth.tasks import get_task, list_tasks, register_task

__all__ = [
    "CameraSpec",
    "RenderSpec",
    "StateComponent",
    "TaskSpec",
    "Tolerance",
    "TrustSpec",
    "TruthEnv",
    "get_task",
    "list_tasks",
    "register_task",
]
