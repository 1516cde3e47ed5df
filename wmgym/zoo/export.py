"""Packing a trained checkpoint into a shippable zoo model: ``wmgym/zoo/<name>/``.

A zoo folder holds ``config.json`` (model config, TaskSpec, action space, data fingerprints,
metrics: no optimizer or sampler state), ``model.safetensors`` (weights in float16 to keep the
package small; loading casts them back), ``context.safetensors`` (real starts from held-out
episodes, since the training data does not ship) and ``card.json`` (what it was trained on and
how well it predicts).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import save_file

from wmgym.checkpoint import CheckpointError, checksums, load_model, read_config, write_json
from wmgym.model.context import ContextBank
from wmgym.zoo import ZOO, zoo_models

KEEP = ("format", "model", "task", "action_space", "datasets", "train", "step", "metrics")


def export(checkpoint: str | Path, out: str | Path, context: ContextBank, card: dict) -> Path:
    """Write a zoo folder from a training checkpoint; returns it."""
    model, _ = load_model(checkpoint)
    config = {k: v for k, v in read_config(checkpoint).items() if k in KEEP}
    if "action_space" not in config:
        raise CheckpointError(f"{checkpoint} does not record its action space; retrain it with this version of wmgym")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    save_file(half, str(tmp / "model.safetensors"))
    context.save(tmp)
    config["checksums"] = checksums(tmp, config)  # a damaged or edited zoo model is caught on load
    write_json(tmp / "config.json", config)
    (tmp / "card.json").write_text(json.dumps(card, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def card(folder: str | Path) -> dict:
    """A zoo model's card (empty if it has none)."""
    file = Path(folder) / "card.json"
    return json.loads(file.read_text()) if file.is_file() else {}


def summary() -> list[dict]:
    """One row per shipped model: name, task, and the card's key numbers."""
    rows = []
    for name in zoo_models():
        c = card(ZOO / name)
        task = read_config(ZOO / name)["task"]
        row = {"name": name, "task": task["name"], **c.get("summary", {})}
        cal = ZOO / name / CALIBRATION
        if cal.is_file():
            row.update(calibration_summary(json.loads(cal.read_text()), task.get("episode_length")))
        rows.append(row)
    return rows


CALIBRATION = "calibration.json"


def calibration_summary(cal: dict, episode_length: int | None = None) -> dict:
    """The key numbers of a calibration card (`wmgym calibrate`)."""
    th = cal["trust_horizon"]
    ret = cal.get("returns") or {}
    out = {
        "trust_horizon": describe_trust(th["steps"], th["of"], episode_length, th["limited_by"])
        + _per_criterion(th.get("criteria") or {}),
        "uncertainty_spearman": round(cal["uncertainty"]["spearman_pooled"], 2),
    }
    if ret.get("spearman") is not None:
        out["return_spearman"] = f"{ret['spearman']:.2f} over {ret['policies']} policies"
    return out


def _per_criterion(criteria: dict) -> str:
    """Each tolerance's own horizon, when they differ: a model whose state holds for 50 steps and
    whose frames fail at once is still useful on state observations."""
    horizons = {name: c["horizon"] for name, c in criteria.items()}
    if len(set(horizons.values())) < 2:
        return ""
    return " (" + ", ".join(f"{name} {h}" for name, h in horizons.items()) + ")"


def describe_trust(steps: int, of: int, episode_length: int | None = None, limited_by: str | None = None) -> str:
    """A trust horizon in words that say what it is out of: the steps calibration measured (``of``),
    which may be far fewer than an episode (pendulum: 50 of its 1000)."""
    text = f"trusted for {steps} of {of} calibrated steps"
    if episode_length is not None:
        text += f" (episodes last {episode_length})"
    if limited_by:
        return text + f", limited by {limited_by}"
    return text + (", every criterion held them all" if steps == of else "")
