"""Paired rollouts: the same start and the same actions in MuJoCo (truth) and open loop in the dream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wmgym.dream import DreamEnv
from wmgym.truth import TruthEnv


@dataclass(frozen=True)
class PairedRollout:
    """Truth and dream after the same context and actions: frames uint8 (T, H, W, 3), states (T, S),
    rewards and the dream's uncertainty (T,). Index 0 is the last context frame."""

    truth_pixels: np.ndarray
    dream_pixels: np.ndarray
    truth_state: np.ndarray
    dream_state: np.ndarray
    truth_reward: np.ndarray
    dream_reward: np.ndarray
    uncertainty: np.ndarray


def paired_rollout(
    truth: TruthEnv,
    dream: DreamEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    context: int = 4,
    horizon: int = 45,
) -> PairedRollout:
    """Run ``policy`` (on the truth env's state) ``context`` steps in MuJoCo, start the dream from
    those frames, then step both with the same actions for ``horizon`` steps (the policy acts on the
    truth state; its actions are replayed in the dream). ``dream`` must observe ``state`` and render
    (``DreamEnv(..., obs_mode="state", render_mode="rgb_array")``)."""
    if truth.task_spec.name != dream.task_spec.name:
        raise ValueError(f"truth task {truth.task_spec.name!r} and dream task {dream.task_spec.name!r} differ")
    obs, _ = truth.reset(seed=seed)
    pixels, states, actions = [obs["pixels"]], [obs["state"]], []
    for _ in range(context):
        actions.append(np.asarray(policy(obs["state"]), np.float32))
        obs, *_ = truth.step(actions[-1])
        pixels.append(obs["pixels"])
        states.append(obs["state"])
    ctx = {"pixels": np.stack(pixels), "actions": np.stack(actions), "state": np.stack(states)}
    dobs, _ = dream.reset(seed=seed, options={"context": ctx})
    rec = {
        "tp": [obs["pixels"]],
        "dp": [dream.render()],
        "ts": [obs["state"]],
        "ds": [dobs],
        "tr": [0.0],
        "dr": [0.0],
        "u": [0.0],
    }
    for _ in range(horizon):
        action = np.asarray(policy(obs["state"]), np.float32)
        obs, r, term, trunc, _ = truth.step(action)
        dobs, dr, _, _, info = dream.step(action)
        rec["tp"].append(obs["pixels"])
        rec["dp"].append(dream.render())
        rec["ts"].append(obs["state"])
        rec["ds"].append(dobs)
        rec["tr"].append(r)
        rec["dr"].append(dr)
        rec["u"].append(info["uncertainty"])
        if term or trunc:
            break
    return PairedRollout(*(np.asarray(rec[k]) for k in ("tp", "dp", "ts", "ds", "tr", "dr", "u")))
