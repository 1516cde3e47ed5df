"""Registers every wmgym env id with gymnasium (run by ``import wmgym`` once gymnasium is imported)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from wmgym.ids import dream_env_id, perturbed_truth_env_id, truth_env_id
from wmgym.tasks import get_task, list_tasks
from wmgym.truth.variants import list_perturbations
from wmgym.zoo import zoo_models


def register_envs() -> None:
    """Register the truth env of every task and the dream env of every zoo model (idempotent).

    ``max_episode_steps`` is the task's episode length (what ``spec.max_episode_steps`` reports, as
    for ``Reacher-v5``). The envs truncate there themselves, so one built directly truncates as one
    from ``gym.make``, whose ``TimeLimit`` (at the same step) then changes nothing.

    A dream id carries its task (``expected_task``): ``gym.make("wmgym/Reacher-v0", model=folder)``
    takes any reacher checkpoint and refuses a model of another task.

    Every named "real robot" variant of a task (`wmgym.truth.variants`, and the combined levels) has
    its own truth id: ``wmgym/Reacher-strong-motors-truth-v0`` is
    ``gym.make("wmgym/Reacher-truth-v0", perturbation="strong-motors")``."""
    for task in (t for t in list_tasks() if get_task(t).has_truth):  # own-data tasks have no MuJoCo env
        ids = {truth_env_id(task): {"task": task}}
        ids.update(
            {perturbed_truth_env_id(task, p): {"task": task, "perturbation": p} for p in list_perturbations(task)}
        )
        for env_id, kwargs in ids.items():
            if env_id not in registry:
                register(
                    id=env_id,
                    entry_point="wmgym.truth.env:TruthEnv",
                    kwargs=kwargs,
                    max_episode_steps=get_task(task).episode_length,
                )
    for model in zoo_models():
        env_id = dream_env_id(model)
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="wmgym.dream.env:DreamEnv",
                vector_entry_point="wmgym.dream.vector_env:make_vector_env",
                kwargs={"model": model, "expected_task": get_task(model).name},
                max_episode_steps=get_task(model).episode_length,
            )
