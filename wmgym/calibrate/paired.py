"""Paired rollouts: the same start and the same actions in MuJoCo (truth) and open loop in the dream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmgym.dream import DreamEnv
from wmgym.episode import run_episode
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
    truth: TruthEnv, dream: DreamEnv, policy, seed: int, context: int = 4, horizon: int = 45
) -> PairedRollout:
    """Run ``policy`` closed loop in MuJoCo for ``context + horizon`` steps (or until the episode
    ends), start the dream from its first ``context`` steps, and replay the same actions there.

    Args:
        truth: a truth env observing ``pixels`` and ``state`` (the default).
        dream: the same task's dream env, observing ``state`` and rendering
            (``DreamEnv(..., obs_mode="state", render_mode="rgb_array")``).
        policy: a `wmgym.policies` policy or any ``fn(obs) -> action``, called on the truth env's
            observation as it returns it; reset with ``seed`` (`wmgym.episode.run_episode`).
        seed: the reset seed of both envs.
        context: real steps the dream filters before it predicts.
        horizon: paired steps after the context.

    Raises:
        ValueError: the envs' tasks differ, or the truth episode ended within the context.
    """
    if truth.task_spec.name != dream.task_spec.name:
        raise ValueError(f"truth task {truth.task_spec.name!r} and dream task {dream.task_spec.name!r} differ")
    ep = run_episode(truth, policy, seed, steps=context + horizon)
    if len(ep) < context or ep.terminated[:context].any():
        raise ValueError(f"the truth episode of seed {seed} ended within the {context} context steps; try another seed")
    k = context
    pixels, state = ep.key("pixels"), ep.key("state")
    start = {"pixels": pixels[: k + 1], "actions": ep.actions[:k], "state": state[: k + 1]}
    dreamt = _replay(dream, start, ep.actions[k:], seed)
    return PairedRollout(
        truth_pixels=pixels[k:],
        dream_pixels=dreamt["pixels"],
        truth_state=state[k:],
        dream_state=dreamt["state"],
        truth_reward=np.concatenate([[0.0], ep.rewards[k:]]),
        dream_reward=dreamt["reward"],
        uncertainty=dreamt["uncertainty"],
    )


def _replay(dream: DreamEnv, context: dict, actions: np.ndarray, seed: int) -> dict:
    """The dream from ``context`` under ``actions``, every step (after its own end too, as the truth
    went on): frames, states, rewards and uncertainty, index 0 the last context frame."""
    obs, _ = dream.reset(seed=seed, options={"context": context})
    rec = {"pixels": [dream.render()], "state": [obs], "reward": [0.0], "uncertainty": [0.0]}
    for action in actions:
        obs, reward, _, _, info = dream.step(action)
        for key, value in zip(rec, (dream.render(), obs, reward, info["uncertainty"]), strict=True):
            rec[key].append(value)
    return {k: np.asarray(v) for k, v in rec.items()}
