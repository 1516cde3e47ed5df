"""Finding a dream model by zoo name or checkpoint path, with the real context it starts from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces

from wmgym.data import SequenceSampler
from wmgym.dream.context import FILE, ContextBank
from wmgym.train.checkpoint import CheckpointError, load_model
from wmgym.truth.spec import TaskSpec

ZOO = Path(__file__).parents[1] / "zoo"


def zoo_models() -> list[str]:
    """Names of the models shipped in the package (``wmgym/zoo/<name>/``)."""
    return sorted(p.name for p in ZOO.iterdir() if (p / "config.json").is_file()) if ZOO.is_dir() else []


def resolve(model: str | Path) -> Path:
    """A zoo name or a checkpoint folder (a run folder works too) -> the folder with config.json."""
    path = Path(model)
    for candidate in (path, path / "checkpoint"):
        if (candidate / "config.json").is_file():
            return candidate
    if str(model) in zoo_models():
        return ZOO / str(model)
    names = ", ".join(zoo_models()) or "none shipped yet"
    raise CheckpointError(
        f"no model {str(model)!r}: not a zoo name ({names}) and not a checkpoint folder with config.json"
    )


def load_dream(model: str | Path, device: str = "cpu"):
    """(world model, TaskSpec, action space, context bank) for a zoo name or checkpoint folder."""
    folder = resolve(model)
    wm, config = load_model(folder, device)
    task = TaskSpec.from_dict(config["task"])
    if "action_space" not in config:
        raise CheckpointError(f"{folder} does not record its action space; retrain it with this version of wmgym")
    a = config["action_space"]
    action_space = spaces.Box(np.asarray(a["low"], np.float32), np.asarray(a["high"], np.float32))
    return wm, task, action_space, _context(folder, config)


def _context(folder: Path, config: dict) -> ContextBank:
    """The folder's shipped context, else the first frames of the training data's held-out episodes."""
    if (folder / FILE).is_file():
        return ContextBank.load(folder)
    paths = [d["path"] for d in config.get("datasets", [])]
    missing = [p for p in paths if not Path(p).is_dir()]
    if not paths or missing:
        raise CheckpointError(
            f"{folder} ships no {FILE} and its training data ({', '.join(missing or paths) or 'unknown'}) is not here; "
            "pass reset(options={'context': ...}) or save a context with ContextBank.save"
        )
    held = SequenceSampler(paths, 1, 1, "heldout", config["train"]["heldout_fraction"])
    return ContextBank.from_episodes(held.episodes, k=4)
