"""Registers every wmgym env id with gymnasium (done once, on ``import wmgym``)."""

from __future__ import annotations

import gymnasium as gym

from wmgym.truth.tasks import get_task, list_tasks


def truth_env_id(task: str) -> str:
    """The gymnasium id of a task's ground-truth env: ``reacher`` -> ``wmgym/Reacher-truth-v0``."""
    spec = get_task(task)
    base = spec.gym_id.rsplit("-v", 1)[0]
    return f"wmgym/{base}-truth-v0"


def register_envs() -> None:
    """Register the truth env of every task in the suite (idempotent)."""
    for task in list_tasks():
        env_id = truth_env_id(task)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="wmgym.truth.env:TruthEnv", kwargs={"task": task})
