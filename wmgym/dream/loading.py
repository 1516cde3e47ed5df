"""Finding a dream model by zoo name or checkpoint folder, with the real context it starts from."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from wmgym.checkpoint import CheckpointError, load_model
from wmgym.ids import dream_env_id
from wmgym.model.context import FILE, ContextBank
from wmgym.tasks import TaskSpec
from wmgym.zoo import resolve


def load_dream(model: str | Path, device: str = "cpu", expected_task: str | None = None):
    """(world model, TaskSpec, action space, context bank) for a zoo name or checkpoint folder.

    Args:
        model: zoo name or checkpoint folder.
        device: where the model runs.
        expected_task: refuse a model of any other task (a registered id serves one task).

    Raises:
        CheckpointError: no such model, or a checkpoint without action space or context.
        ValueError: the model's task is not ``expected_task``.
    """
    folder = resolve(model)
    wm, config = load_model(folder, device)
    task = TaskSpec.from_dict(config["task"])
    if expected_task is not None and task.name != expected_task:
        raise ValueError(_other_task(model, task.name, expected_task))
    if "action_space" not in config:
        raise CheckpointError(f"{folder} does not record its action space; retrain it with this version of wmgym")
    a = config["action_space"]
    action_space = spaces.Box(np.asarray(a["low"], np.float32), np.asarray(a["high"], np.float32))
    return wm, task, action_space, _context(folder)


def _context(folder: Path) -> ContextBank:
    """The real starts saved beside the weights (the trainer writes them from held-out episodes)."""
    if not (folder / FILE).is_file():
        raise CheckpointError(
            f"{folder} holds no {FILE} (real starts for the dream); checkpoints written by this version of "
            "`wmgym train` have one. Pass reset(options={'context': ...}) or save one with ContextBank.save"
        )
    return ContextBank.load(folder)


def _other_task(model: str | Path, task: str, expected: str) -> str:
    try:
        own = dream_env_id(task)
    except KeyError:  # a task outside the suite has no id
        own = None
    use = f"gym.make({own!r}, model={str(model)!r})" if own in gym.registry else f"the id of task {task!r}"
    return (
        f"model {str(model)!r} is a world model of task {task!r}, but this env id serves task {expected!r}: "
        f"use {use}, or wmgym.DreamEnv({str(model)!r}) directly"
    )
