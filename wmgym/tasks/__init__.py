"""The task layer: `TaskSpec` and the suite of registered tasks.

The bottom of the house: plain dataclasses and numpy, no MuJoCo, gymnasium or torch. Truth,
data, model checkpoints and dream envs all agree through a spec, so every layer may import this.
"""

from wmgym.tasks.spec import (
    CameraSpec,
    Reference,
    RenderSpec,
    StateComponent,
    TaskSpec,
    Termination,
    Tolerance,
    TrustSpec,
)
from wmgym.tasks.suite import get_task, list_tasks, register_task

__all__ = [
    "CameraSpec",
    "Reference",
    "RenderSpec",
    "StateComponent",
    "TaskSpec",
    "Termination",
    "Tolerance",
    "TrustSpec",
    "get_task",
    "list_tasks",
    "register_task",
]
