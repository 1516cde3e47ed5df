"""Registers every wmgym env id with gymnasium (run by ``import wmgym`` once gymnasium is imported)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from wmgym.tasks import get_task, list_tasks
from wmgym.zoo import zoo_models


def _base_name(task: str) -> str:
    return get_task(task).gym_id.rsplit("-v", 1)[0]


def truth_env_id(task: str) -> str:
    """The gymnasium id of a task's ground-truth env: ``reacher`` -> ``wmgym/Reacher-truth-v0``."""
    return f"wmgym/{_base_name(task)}-truth-v0"


def dream_env_id(model: str) -> str:
    """The gymnasium id of a zoo model's dream env: ``reacher`` -> ``wmgym/Reacher-v0``."""
    return f"wmgym/{_base_name(model)}-v0"


def register_envs() -> None:
    """Register the truth env of every task and the dream env of every zoo model (idempotent).

    ``max_episode_steps`` is the task's episode length (what ``spec.max_episode_steps`` reports, as
    for ``Reacher-v5``); the envs truncate there themselves, so no extra ``TimeLimit`` is stacked."""
    for task in list_tasks():
        env_id = truth_env_id(task)
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="wmgym.truth.env:TruthEnv",
                kwargs={"task": task},
                max_episode_steps=get_task(task).episode_length,
            )
    for model in zoo_models():
        env_id = dream_env_id(model)
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="wmgym.dream.env:DreamEnv",
                vector_entry_point="wmgym.dream.vector_env:make_vector_env",
                kwargs={"model": model},
                max_episode_steps=get_task(model).episode_length,
            )
