"""Checkpoints: a folder with ``config.json`` and ``model.safetensors`` (never pickle).

A training run's checkpoint also holds ``trainer.safetensors`` (optimizer moments, torch RNG) and,
in ``config.json``, the optimizer's hyperparameters and the sampler's generator, so a resumed run
continues exactly where the saved one stopped. Folders are written next to the target and renamed
into place, so a kill mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from wmgym.errors import CheckpointError
from wmgym.model import ContextBank, WorldModel, WorldModelConfig
from wmgym.tasks import TaskSpec

FORMAT = 1


def save(
    folder: Path,
    model: WorldModel,
    meta: dict,
    optimizer: torch.optim.Optimizer | None = None,
    context: ContextBank | None = None,
) -> Path:
    """Write ``folder`` atomically: config.json (model config + ``meta``), model.safetensors, with
    an optimizer trainer.safetensors, and with a context the real starts a dream begins from."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp / "model.safetensors")
    config = {"format": FORMAT, "model": model.cfg.to_dict(), **meta}
    if optimizer is not None:
        tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors["torch_rng"] = torch.get_rng_state()
        save_file(tensors, tmp / "trainer.safetensors")
        config["optimizer"] = opt_meta
    if context is not None:
        context.save(tmp)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def read_config(folder: Path) -> dict:
    """The checkpoint's config.json, or a clear `CheckpointError`."""
    folder = Path(folder)
    file = folder / "config.json"
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {folder}: {file.name} is missing (train one with `wmgym train`)")
    try:
        config = json.loads(file.read_text())
        WorldModelConfig.from_dict(config["model"])
        TaskSpec.from_dict(config["task"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: config.json does not parse ({e})") from None
    return config


def load_model(
    folder: Path, device: str | torch.device = "cpu", task: TaskSpec | None = None
) -> tuple[WorldModel, dict]:
    """The model saved in ``folder`` and its config. With ``task``, refuses a model trained on another spec."""
    config = read_config(folder)
    if task is not None:
        check_task(config, task, folder)
    model = WorldModel(WorldModelConfig.from_dict(config["model"]))
    try:
        state = load_file(Path(folder) / "model.safetensors", device=str(device))
    except (SafetensorError, FileNotFoundError, OSError) as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: model.safetensors cannot be read ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {folder} does not match its config.json: {e}") from None
    return model.to(device), config


def load_trainer_state(folder: Path, optimizer: torch.optim.Optimizer, config: dict) -> None:
    """Restore the optimizer and torch's RNG saved by `save`."""
    try:
        tensors = load_file(Path(folder) / "trainer.safetensors")
    except (SafetensorError, FileNotFoundError, OSError) as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: trainer.safetensors cannot be read ({e})") from None
    torch.set_rng_state(tensors.pop("torch_rng"))
    state: dict = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": config["optimizer"]["param_groups"]})


def check_task(config: dict, task: TaskSpec, where="the checkpoint") -> None:
    """Raise if the model was trained on a different TaskSpec than ``task``."""
    saved = TaskSpec.from_dict(config["task"])
    if saved != task:
        diff = [k for k in saved.to_dict() if saved.to_dict()[k] != task.to_dict()[k]]
        raise CheckpointError(
            f"{where} was trained on task {saved.name!r} and does not match task {task.name!r} "
            f"(differs in: {', '.join(diff)}); use a model trained on this task's spec"
        )


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(value).detach().contiguous().cpu()
    return tensors, {"param_groups": sd["param_groups"]}
