"""Training a model's parts in parallel runs, then joining them: `take_parts`.

An ensemble world model's dynamics and its renderer share no weights (the renderer is trained on the
true latents), so on a CPU with two cores they train faster as two single-threaded runs side by side
than as one: each run trains only its parts (`TrainConfig.train_only`; the loss skips the terms of
frozen parts) on the same data from the same seed, so both start from the same weights. `take_parts`
then copies the renderer run's renderer into the dynamics run's checkpoint. The joined run still
resumes (its optimizer covers its own parts; the copied ones stay frozen in it).

A renderer also joins dynamics trained apart from it on other data of the same task, or at another depth:
it brings its own depth, and where the runs' data statistics differ, the change of normalization is
folded into its first layer (exact: a full-state model's latent is the normalized state) and the
background it draws over comes with it. So one renderer can be tried beside several dynamics runs, and
a model's dynamics retrained on new data without retraining its renderer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from wmgym import checkpoint
from wmgym.errors import RunFolderError
from wmgym.model import build
from wmgym.train import run as run_folder

__all__ = ["take_parts"]

_SAME = ("model", "task", "datasets")
"""What two runs must share for one's parts to be valid in the other: the architecture, the task
and the training data (which sets the normalization and the background the renderer draws over;
compared by content, so the same datasets under another path, e.g. linked, count as the same).
Of the task, what only describes it (its reference returns, notes, proprioception list: the model
config holds a proprioception-only model's inputs) may differ: a run trained before a task's
reference was set still matches it."""

_DESCRIPTIVE = frozenset({"reference", "notes", "proprio"})

_OWNED = {
    "dynamics": frozenset({"members", "layers", "horizon", "discount", "bootstrap", "uncertainty", "dynamics_weight"}),
    "renderer": frozenset({"cnn_depth", "image_rows", "moving_pixel_weight", "image_weight"}),
}
"""Model config fields that shape or train one part alone (an ensemble's). A part may be taken from a
run that differs only in fields owned by parts *not* taken: a renderer is the same renderer whatever
the number of dynamics members beside it was. The fields of taken dynamics must match (they fix its
shapes and describe its training); a taken renderer brings its own fields into the joined model."""


_STATISTICS = ("state_mean", "state_std", "background")
"""The buffers set from a run's data (`WorldModelBase.set_data_statistics`)."""


def _same(key: str, config: dict, parts: tuple[str, ...] = ()):
    value = config.get(key)
    if key == "datasets":  # the data's fingerprints, not where it lay
        return [d["fingerprint"] for d in value or []]
    if key == "task" and value is not None:
        return {k: v for k, v in value.items() if k not in _DESCRIPTIVE}
    if key == "model" and value is not None and value.get("kind") == "ensemble":
        # a part's own fields may differ: the out run keeps its parts, a taken renderer brings its own
        ignored = set().union(*(fields for part, fields in _OWNED.items() if part not in parts or part == "renderer"))
        return {k: v for k, v in value.items() if k not in ignored}
    return value


def _renderer_apart(model, config: dict, parts: tuple[str, ...], other_data: bool, reshaped: bool) -> list[str]:
    """Why ``parts`` cannot come from a run of other data (``other_data``) or with a renderer of another
    shape (``reshaped``); an empty list: they can. Only a renderer can; from other data, only a full-state
    ensemble's (its input is the normalized state vector, so another normalization folds into its first
    layer); of another shape, only into a run that trained no renderer of its own (its optimizer would
    hold state for the old renderer's weights)."""
    why = []
    if tuple(parts) != ("renderer",):
        why.append("only a renderer can be taken from a run of other data or another renderer size")
    if other_data and (getattr(model, "encoder", True) is not None or model.cfg.input_state is not None):
        why.append("the model's latent is not the normalized state vector alone (a frame encoder or proprio_only)")
    trained = config.get("train", {}).get("train_only") or ()
    if reshaped and (not trained or "renderer" in trained):
        why.append(f"{_out_parts(trained)} trained in the run taking it, so its optimizer holds the old renderer")
    return why


def _out_parts(trained) -> str:
    return ", ".join(trained) if trained else "the whole model"


def _folded_renderer(model, other) -> dict:
    """``other``'s renderer weights (and background) for ``model``: its first layer reads the state as
    ``other``'s data normalized it, z_o = (x - m_o) / s_o, and is given ``model``'s z = (x - m) / s, so
    z_o = z * s / s_o + (m - m_o) / s_o, folded into the layer's weight and bias."""
    theirs = {k: v.float() for k, v in other.state_dict().items() if k.startswith("renderer.")}
    scale = model.state_std.float() / other.state_std.float()
    shift = (model.state_mean.float() - other.state_mean.float()) / other.state_std.float()
    weight, bias = theirs["renderer.fc.0.weight"], theirs["renderer.fc.0.bias"]
    theirs["renderer.fc.0.weight"] = weight * scale
    theirs["renderer.fc.0.bias"] = bias + weight @ shift
    theirs["background"] = other.background.clone()
    return theirs


def take_parts(out: str | Path, source: str | Path, parts: tuple[str, ...]) -> dict:
    """Copy the submodules ``parts`` (e.g. ``("renderer",)``) of run ``source``'s checkpoint into run
    ``out``'s, keeping ``out``'s optimizer state, and record it in ``out``'s config (``parts_from``).
    Returns that record.

    A renderer may come from a run of other data of the same task or of another depth (see the module's
    docstring); ``out`` then takes its depth and background, and the record says what was folded.

    Raises:
        RunFolderError: ``out`` is not a trained run, or is in use.
        ValueError: the runs differ in model, task or data (beyond what a taken renderer may), or
            ``parts`` names no part of the model.
    """
    out = Path(out)
    if not checkpoint.is_run(out) or not (out / checkpoint.CHECKPOINT).exists():
        raise RunFolderError(f"{out} is not a wmgym training run with a checkpoint (wmgym train --out {out})")
    with run_folder.claim(out):  # locked: not while a trainer writes it
        model, config = checkpoint.load_model(out / checkpoint.CHECKPOINT)
        other, other_config = checkpoint.load_model(source)
        differ = [k for k in _SAME if _same(k, config, parts) != _same(k, other_config, parts)]
        other_data = "datasets" in differ
        if other_data:
            differ.remove("datasets")
        reshaped = _renderer_fields(config) != _renderer_fields(other_config) and "renderer" in parts
        if differ:
            raise ValueError(
                f"cannot take parts of {source} into {out}: the runs differ in {', '.join(differ)}; "
                "train both from the same data with the same preset"
            )
        why = _renderer_apart(model, config, parts, other_data, reshaped) if other_data or reshaped else []
        if why:
            apart = "other data" if other_data else "a renderer of another size"
            raise ValueError(
                f"cannot take {', '.join(parts)} of {source} into {out}: the runs differ in "
                f"{'datasets' if other_data else 'model'} ({apart}), and {'; '.join(why)}; train both from "
                "the same data with the same preset, or retrain the renderer with --train-only"
            )
        theirs = _folded_renderer(model, other) if other_data else other.state_dict()
        # The data statistics are buffers set from the data: equal data, equal statistics; checked anyway.
        for name, buf in model.named_buffers():
            folded = other_data and name in _STATISTICS
            if not folded and name in theirs and not torch.equal(buf, theirs[name]):
                raise ValueError(f"cannot take parts of {source} into {out}: their data statistic {name!r} differs")
        if reshaped:
            fields = _renderer_fields(other_config)
            weights, model = _without_renderer(model), build(model.cfg.replace(**fields))
            model.load_state_dict(weights, strict=False)
        state = model.state_dict()
        for part in parts:
            keys = [k for k in theirs if k.startswith(part + ".")]
            if not keys:
                have = ", ".join(n for n, _ in model.named_children())
                raise ValueError(f"{part!r} is no part of this model with weights; its parts: {have}")
            state.update({k: theirs[k] for k in keys})
        if other_data:
            state["background"] = theirs["background"]
        model.load_state_dict(state)
        record = {"parts": list(parts), "source": str(source), "source_step": other_config.get("step")}
        if other_data:
            record["source_datasets"] = other_config.get("datasets")
            record["folded"] = "the source's normalization into its renderer's first layer; its background"
        if reshaped:
            record["renderer_config"] = fields
        kept = [r for r in config.get("parts_from", []) if r["parts"] != record["parts"]]
        checkpoint.replace_weights(
            out / checkpoint.CHECKPOINT, model, {"parts_from": [*kept, record]}, new_model_config=reshaped
        )
        if reshaped:  # the run folder's own record of its model, too
            run_config = json.loads((out / checkpoint.CONFIG).read_text())
            checkpoint.write_json(out / checkpoint.CONFIG, {**run_config, "model": model.cfg.to_dict()})
    return record


def _renderer_fields(config: dict) -> dict:
    model = config.get("model") or {}
    return {k: model[k] for k in sorted(_OWNED["renderer"]) if k in model}


def _without_renderer(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("renderer.")}
