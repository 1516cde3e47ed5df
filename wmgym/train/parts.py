"""Training a model's parts in parallel runs, then joining them: `take_parts`.

An ensemble world model's dynamics and its renderer share no weights (the renderer is trained on the
true latents), so on a CPU with two cores they train faster as two single-threaded runs side by side
than as one: each run trains only its parts (`TrainConfig.train_only`; the loss skips the terms of
frozen parts) on the same data from the same seed, so both start from the same weights. `take_parts`
then copies the renderer run's renderer into the dynamics run's checkpoint. The joined run still
resumes (its optimizer covers its own parts; the copied ones stay frozen in it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from wmgym import checkpoint
from wmgym.errors import RunFolderError
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
the number of dynamics members beside it was; the fields of a taken part must match (they fix its
shapes and describe its training)."""


def _same(key: str, config: dict, parts: tuple[str, ...] = ()):
    value = config.get(key)
    if key == "datasets":  # the data's fingerprints, not where it lay
        return [d["fingerprint"] for d in value or []]
    if key == "task" and value is not None:
        return {k: v for k, v in value.items() if k not in _DESCRIPTIVE}
    if key == "model" and value is not None and value.get("kind") == "ensemble":
        ignored = set().union(*(fields for part, fields in _OWNED.items() if part not in parts))
        return {k: v for k, v in value.items() if k not in ignored}
    return value


def take_parts(out: str | Path, source: str | Path, parts: tuple[str, ...]) -> dict:
    """Copy the submodules ``parts`` (e.g. ``("renderer",)``) of run ``source``'s checkpoint into run
    ``out``'s, keeping ``out``'s optimizer state, and record it in ``out``'s config (``parts_from``).
    Returns that record.

    Raises:
        RunFolderError: ``out`` is not a trained run, or is in use.
        ValueError: the runs differ in model, task or data, or ``parts`` names no part of the model.
    """
    out = Path(out)
    if not checkpoint.is_run(out) or not (out / checkpoint.CHECKPOINT).exists():
        raise RunFolderError(f"{out} is not a wmgym training run with a checkpoint (wmgym train --out {out})")
    with run_folder.claim(out):  # locked: not while a trainer writes it
        model, config = checkpoint.load_model(out / checkpoint.CHECKPOINT)
        other, other_config = checkpoint.load_model(source)
        differ = [k for k in _SAME if _same(k, config, parts) != _same(k, other_config, parts)]
        if differ:
            raise ValueError(
                f"cannot take parts of {source} into {out}: the runs differ in {', '.join(differ)}; "
                "train both from the same data with the same preset"
            )
        theirs = other.state_dict()
        # The data statistics are buffers set from the data: equal data, equal statistics; checked anyway.
        for name, buf in model.named_buffers():
            if name in theirs and not torch.equal(buf, theirs[name]):
                raise ValueError(f"cannot take parts of {source} into {out}: their data statistic {name!r} differs")
        state = model.state_dict()
        for part in parts:
            keys = [k for k in theirs if k.startswith(part + ".")]
            if not keys:
                have = ", ".join(n for n, _ in model.named_children())
                raise ValueError(f"{part!r} is no part of this model with weights; its parts: {have}")
            state.update({k: theirs[k] for k in keys})
        model.load_state_dict(state)
        record = {"parts": list(parts), "source": str(source), "source_step": other_config.get("step")}
        kept = [r for r in config.get("parts_from", []) if r["parts"] != record["parts"]]
        checkpoint.replace_weights(out / checkpoint.CHECKPOINT, model, {"parts_from": [*kept, record]})
    return record
