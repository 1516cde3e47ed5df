"""Open-loop prediction on held-out episodes: a few real frames of context, then true actions only."""

from __future__ import annotations

import numpy as np
import torch

from wmgym.data.sampler import episode_rows
from wmgym.data.store import EpisodeArrays
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
    t = {k: torch.as_tensor(v, device=device) for k, v in batch.items()}
    was_training = model.training
    model.eval()
    _, last, _, _ = model.observe(
        t["pixels"][:, :context],
        t["state"][:, :context],
        t["action"][:, :context],
        t["is_first"][:, :context],
        sample=sample,
    )
    latents, unc = model.imagine(last, t["action"][:, context:], sample=sample)
    pred = (model.decode(latents) * 255).round().to(torch.uint8)
    out = {
        "pred_pixels": pred.cpu().numpy(),
        "true_pixels": batch["pixels"][:, context:],
        "pred_state": model.state(latents).float().cpu().numpy(),
        "true_state": batch["state"][:, context:],
        "pred_reward": model.reward(latents).float().cpu().numpy(),
        "true_reward": batch["reward"][:, context:],
        "uncertainty": unc.float().cpu().numpy(),
        "last_context_pixels": batch["pixels"][:, context - 1],
        "last_context_state": batch["state"][:, context - 1],
    }
    model.train(was_training)
    return out
