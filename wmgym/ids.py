"""The gymnasium ids of wmgym's envs, by task or zoo model (naming only: no gymnasium import)."""

from __future__ import annotations

from wmgym.tasks import get_task


def _base_name(task: str) -> str:
    return get_task(task).gym_id.rsplit("-v", 1)[0]


def truth_env_id(task: str) -> str:
    """The gymnasium id of a task's ground-truth env: ``reacher`` -> ``wmgym/Reacher-truth-v0``."""
    return f"wmgym/{_base_name(task)}-truth-v0"


def dream_env_id(model: str) -> str:
    """The gymnasium id of a zoo model's dream env: ``reacher`` -> ``wmgym/Reacher-v0``."""
    return f"wmgym/{_base_name(model)}-v0"
