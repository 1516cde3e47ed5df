"""The MuJoCo side: task specs, the task suite, pixel rendering and restorable physics state."""

from wmgym.truth.env import TruthEnv
from wmgym.truth.spec import CameraSpec, RenderSpec, TaskSpec
from wmgym.truth.tasks import get_task, list_tasks, register_task

__all__ = ["CameraSpec", "RenderSpec", "TaskSpec", "TruthEnv", "get_task", "list_tasks", "register_task"]
