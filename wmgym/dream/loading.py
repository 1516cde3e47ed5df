"""Finding a dream model by zoo name or checkpoint folder, with the real context it starts from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces

from wmgym.checkpoint import CheckpointError, load_model
from wmgym.model.context import FILE, ContextBank
from wmgym.tasks import TaskSpec
from wmgym.zoo import resolve


def load_dream(model: str | Path, device: str = "cpu"):
    """(world model, TaskSpec, action space, context bank) for a zoo name or checkpoint folder."""
    folder = resolve(model)
    wm, config = load_model(folder, device)
    task = TaskSpec.from_dict(config["task"])
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
