"""Open-loop prediction on held-out episodes: a few real frames of context, then true actions only."""

from __future__ import annotations

import numpy as np
import torch

from wmgym.data.sampler import episode_rows
from wmgym.data.store import EpisodeArrays
from wmgym.metrics import psnr
from wmgym.model import WorldModel


@torch.no_grad()
def open_loop(
    model: WorldModel, episodes: list[EpisodeArrays], context: int, horizon: int, sample: bool = False
) -> dict:
    """Predict ``horizon`` steps after ``context`` observed frames of each episode long enough.

    Returns numpy arrays, N episodes by H steps: ``pred_pixels``/``true_pixels`` uint8
    (N, H, h, w, 3), ``pred_state``/``true_state``, ``pred_reward``/``true_reward``, ``uncertainty``,
    and ``last_context_pixels``/``last_context_state`` (N, ...) for the repeat-last baseline.
    """
    usable = [ep for ep in episodes if len(ep) + 1 >= context + horizon]
    if not usable:
        raise ValueError(f"no episode is long enough for context {context} + horizon {horizon}")
    rows = [episode_rows([ep]) for ep in usable]
    batch = {k: np.stack([r[k][: context + horizon] for r in rows]) for k in rows[0]}
    device = model.state_mean.device
    t = {k: torch.as_tensor(v[:, :context], device=device) for k, v in batch.items() if k != "action"}
    t["action"] = torch.as_tensor(batch["action"][:, :context], device=device)
    future = torch.as_tensor(batch["action"][:, context:], device=device)
    was_training = model.training
    model.eval()
    pred = {k: v.cpu().numpy() for k, v in model.open_loop(t, future, sample=sample).items()}
    model.train(was_training)
    return {
        "pred_pixels": pred["pixels"],
        "true_pixels": batch["pixels"][:, context:],
        "pred_state": pred["state"],
        "true_state": batch["state"][:, context:],
        "pred_reward": pred["reward"],
        "true_reward": batch["reward"][:, context:],
        "uncertainty": pred["uncertainty"],
        "last_context_pixels": batch["pixels"][:, context - 1],
        "last_context_state": batch["state"][:, context - 1],
    }


def evaluate_heldout(
    model: WorldModel, episodes: list[EpisodeArrays], context: int, horizon: int, writer, step: int
) -> dict:
    """Open-loop PSNR at horizons 1, 5 and ``horizon`` (and the repeat-last baseline's) written to
    TensorBoard with a truth/prediction/error strip; returns ``{"heldout_psnr_h<h>": dB}``. Runs
    under a forked RNG seeded by ``step``, so evaluating does not change the training stream (a
    resumed run then equals an uninterrupted one)."""
    device = model.state_mean.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(step)
        res = open_loop(model, episodes, context, horizon)
    scores = psnr(res["pred_pixels"], res["true_pixels"]).mean(0)
    last = np.broadcast_to(res["last_context_pixels"][:, None], res["true_pixels"].shape)
    repeat = psnr(last, res["true_pixels"]).mean(0)
    out = {}
    for h in sorted({1, 5, horizon}):
        if h <= len(scores):
            out[f"heldout_psnr_h{h}"] = float(scores[h - 1])
            writer.add_scalar(f"eval/psnr_h{h}", scores[h - 1], step)
            writer.add_scalar(f"eval/repeat_last_psnr_h{h}", repeat[h - 1], step)
    truth, pred = res["true_pixels"][0], res["pred_pixels"][0]
    err = np.abs(truth.astype(np.int16) - pred.astype(np.int16)).astype(np.uint8)
    rows = [np.concatenate(list(x), axis=1) for x in (truth, pred, err)]
    writer.add_image("eval/open_loop_truth_pred_error", np.concatenate(rows, axis=0), step, dataformats="HWC")
    return out
