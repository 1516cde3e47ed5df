"""Checkpoints: a folder with ``config.json`` and ``model.safetensors`` (never pickle).

A training run's checkpoint also holds ``trainer.safetensors`` (optimizer moments, torch RNG) and,
in ``config.json``, the optimizer's hyperparameters and the sampler's generator, so a resumed run
continues exactly where the saved one stopped. A run folder (``wmgym train --out RUN``) holds its
checkpoint in ``RUN/checkpoint``; every reader here accepts either folder.

Integrity: ``config.json`` records the sha256 of each file beside it and of the parts of itself that
say what the model is (model config, task spec, action space). Loading verifies them, so flipped
bytes, or a config.json edited to another task, are reported with the file's name instead of being
loaded. Checkpoints written before checksums existed (the shipped zoo models) load without them.
Weights that are not finite are never saved and never loaded.

Crash safety: `save` writes ``.NAME.tmp`` (its files fsynced, config.json last), renames ``NAME`` to
``.NAME.old``, renames ``.NAME.tmp`` to ``NAME``, fsyncs the parent folder, then deletes
``.NAME.old``. A copy is *complete* when its config.json parses and every checksum it records
matches; config.json being written last, a complete ``.NAME.tmp`` is a save that finished writing.
After a crash, `recover` (run by the trainer while it holds the run's lock) keeps the newest
complete copy as ``NAME``: a complete ``.NAME.tmp`` of a later step is rolled forward (the crash
came after it was fully written and fsynced: discarding it would throw away finished training),
otherwise ``.NAME.old`` is restored when ``NAME`` is missing. Readers (`find`, `load_model`) never
rename anything: a trainer may be between the two renames, so they read the complete copy in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from wmgym.errors import CheckpointError
from wmgym.jsonfile import read_object
from wmgym.model import ContextBank, WorldModel, build, config_from_dict
from wmgym.model.context import FILE as CONTEXT
from wmgym.model.precision import resolve_device
from wmgym.tasks import TaskSpec

FORMAT = 1
CONFIG = "config.json"
MODEL = "model.safetensors"
TRAINER = "trainer.safetensors"
CHECKPOINT = "checkpoint"
"""The checkpoint's folder inside a run folder."""
RUN_KEY = "wmgym_run"
"""Key of a run folder's config.json that marks the folder as a wmgym training run."""
SIGNED = ("format", "model", "task", "action_space")
"""Parts of config.json covered by its ``checksums["config"]``: what the weights mean."""


def save(
    folder: Path,
    model: WorldModel,
    meta: dict,
    optimizer: torch.optim.Optimizer | None = None,
    context: ContextBank | None = None,
) -> Path:
    """Write ``folder`` atomically: config.json (model config + ``meta`` + checksums),
    model.safetensors, with an optimizer trainer.safetensors, and with a context the real starts a
    dream begins from. Raises `CheckpointError` (the previous checkpoint kept) for non-finite
    weights or a failed write (full or read-only disk)."""
    folder = Path(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad:
        raise CheckpointError(f"refusing to save {folder}: weight {bad!r} is not finite (NaN or inf)")
    tmp, old = _tmp(folder), _old(folder)
    try:
        _write(tmp, state, {"format": FORMAT, "model": model.cfg.to_dict(), **meta}, optimizer, context)
    except (OSError, SafetensorError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(_save_failed(folder, e)) from e
    return _install(tmp, folder, old)


def replace_weights(folder: Path, model: WorldModel, meta: dict, new_model_config: bool = False) -> Path:
    """Rewrite the weights of the checkpoint ``folder`` with ``model``'s and add ``meta`` to its
    config, keeping its optimizer state and context (so a run resumes from it as before), by the
    same atomic swap as `save`. The model's config must be the saved one, unless ``new_model_config``
    (then it replaces it: e.g. a frozen part of another size, which the optimizer holds no state for).
    Raises `CheckpointError`."""
    folder = Path(folder)
    config = _parse_config(folder)
    saved = json.loads(json.dumps(model.cfg.to_dict()))
    if new_model_config:
        config["model"] = saved
    elif config["model"] != saved:
        raise CheckpointError(f"cannot replace the weights of {folder}: the model's config differs from the saved one")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad:
        raise CheckpointError(f"refusing to save {folder}: weight {bad!r} is not finite (NaN or inf)")
    tmp, old = _tmp(folder), _old(folder)
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        (tmp / CONFIG).unlink()  # the copy is incomplete until its new config.json is written
        _write_file(tmp / MODEL, save_bytes(state))
        config = {**config, **meta}
        config["checksums"] = checksums(tmp, config)
        _write_file(tmp / CONFIG, json.dumps(config, indent=2).encode())
        _fsync_dir(tmp)
    except (OSError, SafetensorError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(_save_failed(folder, e)) from e
    return _install(tmp, folder, old)


def recover(folder: Path) -> str | None:
    """Settle a save that a crash interrupted (see the module's docstring); the caller must be the
    only writer (the trainer holds the run's lock). Returns what it did, or None if nothing was to do."""
    folder = Path(folder)
    tmp, old = _tmp(folder), _old(folder)
    if not (tmp.exists() or old.exists()):
        return None
    keep, done = _newest_complete(folder), None
    if keep is not None and keep != folder:
        if folder.exists():  # rolling a complete .tmp forward over an older checkpoint
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(keep, folder)
        _fsync_dir(folder.parent)
        how = "finished the save that was interrupted" if keep == tmp else f"restored the checkpoint kept in {old.name}"
        done = f"{how} (step {read_object(folder / CONFIG).get('step')})"
    shutil.rmtree(tmp, ignore_errors=True)  # renamed, incomplete, or not newer
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
    return done


def find(path: str | Path) -> Path:
    """The checkpoint folder to read for ``path``: a checkpoint folder, or a run folder (its
    ``checkpoint/``); where a crash interrupted a save, its complete copy. Never renames anything.
    Raises `CheckpointError` saying what ``path`` is instead."""
    path = Path(path)
    if is_run(path):
        found = _readable(path / CHECKPOINT)
        if found is None:
            raise CheckpointError(
                f"run {path} has no checkpoint yet: training saves one every checkpoint_every steps and at "
                f"the end; wait for it, or resume the run with `wmgym train --out {path}`"
            )
        return found
    found = _readable(path)
    if found is not None:
        return found
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the folder does not exist (train one with `wmgym train`)")
    raise CheckpointError(
        f"no checkpoint at {path}: it holds no {CONFIG} (a checkpoint folder holds {CONFIG} and {MODEL}, "
        f"a run folder a {CHECKPOINT}/ folder; train one with `wmgym train`)"
    )


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a wmgym training run folder (what ``wmgym train --out`` writes): its
    config.json carries `RUN_KEY` (or, written before the key existed, a run's keys and no
    ``format``), or it has no config.json and holds a training checkpoint."""
    path = Path(path)
    if (path / CONFIG).exists():
        config = read_object(path / CONFIG)
        legacy = {"train", "task", "model"} <= config.keys() and "format" not in config
        return RUN_KEY in config or legacy
    names = (CHECKPOINT, f".{CHECKPOINT}.tmp", f".{CHECKPOINT}.old")
    return any({"format", "train"} <= read_object(path / n / CONFIG).keys() for n in names)


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a checkpoint's own config.json (not a run folder's)."""
    return "format" in read_object(Path(path) / CONFIG)


def read_config(folder: str | Path) -> dict:
    """The checkpoint's config.json (``folder`` may be a run folder), or a clear `CheckpointError`."""
    return _parse_config(find(folder))


def load_model(
    folder: str | Path, device: str | torch.device = "cpu", task: TaskSpec | None = None
) -> tuple[WorldModel, dict]:
    """The model saved in ``folder`` (a checkpoint or a run folder) and its config. With ``task``,
    refuses a model trained on another spec. Checksums and finiteness are verified."""
    device = resolve_device(device)
    folder = find(folder)
    config = _parse_config(folder)
    if task is not None:
        check_task(config, task, folder)
    state = _load_tensors(folder, MODEL, config)
    bad = _non_finite(state)
    if bad:
        raise CheckpointError(
            f"checkpoint {folder} is damaged: {MODEL} holds non-finite weights (NaN or inf) in {bad!r}"
        )
    model = build(config_from_dict(config["model"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {folder} does not match its config.json: {e}") from None
    return model.to(device), config


def load_trainer_state(folder: Path, optimizer: torch.optim.Optimizer, config: dict) -> None:
    """Restore the optimizer and torch's RNG saved by `save`."""
    tensors = _load_tensors(Path(folder), TRAINER, config)
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


def checksums(folder: Path, config: dict) -> dict:
    """sha256 of the weight files in ``folder`` (model, trainer state) and of config's `SIGNED` parts:
    what `save` stores under ``config["checksums"]`` (a zoo export stores it the same way).

    Other files are left out on purpose: the context (real starts; replacing it with starts of your
    own is a documented use) and a zoo model's cards change no weight."""
    signed = (MODEL, TRAINER)
    files = {name: _sha256_file(Path(folder) / name) for name in signed if (Path(folder) / name).is_file()}
    return {"algorithm": "sha256", "files": files, "config": _config_digest(config)}


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON so that ``path`` holds either the old or the new text, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    _write_file(tmp, (json.dumps(obj, indent=2) + "\n").encode())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write(tmp: Path, state: dict, config: dict, optimizer, context) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _write_file(tmp / MODEL, save_bytes(state))
    if optimizer is not None:
        tensors, config["optimizer"] = _optimizer_tensors(optimizer)
        tensors["torch_rng"] = torch.get_rng_state()
        _write_file(tmp / TRAINER, save_bytes(tensors))
    if context is not None:
        context.save(tmp)
        _fsync_file(tmp / CONTEXT)
    config["checksums"] = checksums(tmp, config)
    _write_file(tmp / CONFIG, json.dumps(config, indent=2).encode())  # last: it makes the copy complete
    _fsync_dir(tmp)


def _install(tmp: Path, folder: Path, old: Path) -> Path:
    """`_swap` a complete ``tmp`` into place; on failure, put the previous copy back (`recover`
    judges the new one later) and raise `CheckpointError`."""
    try:
        _swap(tmp, folder, old)
    except OSError as e:
        if not folder.exists() and old.exists():
            with contextlib.suppress(OSError):
                os.replace(old, folder)
        raise CheckpointError(_save_failed(folder, e)) from e
    return folder


def _swap(tmp: Path, folder: Path, old: Path) -> None:
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def _save_failed(folder: Path, e: Exception) -> str:
    why = f"{e.strerror} ({e.filename})" if isinstance(e, OSError) and e.strerror else str(e)
    return (
        f"could not save checkpoint {folder}: {why}; the previous checkpoint there is kept. "
        "Free disk space or make the folder writable, then run the same command again to resume"
    )


def _parse_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / CONFIG).read_text())
        config_from_dict(config["model"])
        TaskSpec.from_dict(config["task"])
    except OSError as e:
        raise CheckpointError(f"checkpoint {folder}: {CONFIG} cannot be read ({e.strerror or e})") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: {CONFIG} does not parse ({e})") from None
    expected = _checksums(config).get("config")
    if expected is not None and expected != _config_digest(config):
        raise CheckpointError(
            f"checkpoint {folder} is damaged: {CONFIG} was changed after saving (its model config, task spec or "
            f"action space no longer match the sha256 saved with them); restore the original {CONFIG}"
        )
    return config


def _load_tensors(folder: Path, name: str, config: dict) -> dict[str, torch.Tensor]:
    data = _verify_file(folder, name, config)
    try:
        return load_bytes(data)
    except SafetensorError as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: {name} cannot be read ({e})") from None


def _verify_file(folder: Path, name: str, config: dict) -> bytes:
    """The file's bytes, after checking them against the sha256 in config.json (if it has one)."""
    try:
        data = (folder / name).read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint {folder} is damaged: {name} cannot be read ({e.strerror or e})") from None
    expected = _checksums(config).get("files", {}).get(name)
    if expected is not None and expected != hashlib.sha256(data).hexdigest():
        raise CheckpointError(
            f"checkpoint {folder} is damaged: {name} does not match the sha256 recorded in {CONFIG} (its bytes "
            "changed since it was saved); restore it from a backup or train again"
        )
    return data


def _complete(path: Path) -> dict | None:
    """The config of a copy whose config.json parses and whose checksums all match, else None."""
    config = read_object(path / CONFIG)
    if not config:
        return None
    files = _checksums(config).get("files")
    if files is None:  # written before checksums: config.json, written last, is all there is to go by
        return config if (path / MODEL).is_file() else None
    ok = all((path / name).is_file() and _sha256_file(path / name) == digest for name, digest in files.items())
    return config if ok else None


def _newest_complete(folder: Path) -> Path | None:
    """The copy to keep as ``folder``: ``folder`` itself unless a complete ``.tmp`` is of a later
    step; if ``folder`` is missing, the complete one of ``.tmp`` and ``.old`` of the later step."""
    tmp, old = _tmp(folder), _old(folder)
    if folder.exists():
        current, newer = read_object(folder / CONFIG), _complete(tmp)
        later = current and newer and newer.get("step", -1) > current.get("step", -1)
        return tmp if later else folder
    copies = [(config.get("step", -1), i, p) for i, p in enumerate((old, tmp)) if (config := _complete(p))]
    return max(copies)[2] if copies else None  # on equal steps .tmp, the later save


def _readable(folder: Path) -> Path | None:
    if (folder / CONFIG).is_file():
        return folder
    newest = _newest_complete(folder)
    return newest if newest != folder else None


def _checksums(config: dict) -> dict:
    """``config["checksums"]``, or {} for a checkpoint saved before checksums existed."""
    sums = config.get("checksums")
    return sums if isinstance(sums, dict) else {}


def _config_digest(config: dict) -> str:
    signed = {k: config[k] for k in SIGNED if k in config}
    return hashlib.sha256(json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _non_finite(state: dict[str, torch.Tensor]) -> str | None:
    """The first floating-point tensor holding a NaN or inf."""
    return next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` survive a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.tmp")


def _old(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old")


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(value).detach().contiguous().cpu()
    return tensors, {"param_groups": sd["param_groups"]}
