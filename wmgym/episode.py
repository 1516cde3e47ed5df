"""`run_episode`: the one loop that runs a policy in an env and records what happened.

Collection, calibration, policy returns, paired rollouts and the demo all go through it, so "an
episode" means the same thing everywhere: observation ``t`` (``t = 0 .. T``), the action taken on
it, and the reward and flags received on arriving at observation ``t + 1``. Works with any
gymnasium env; MuJoCo physics states are recorded when asked (truth envs only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmgym.policies import as_policy


@dataclass(frozen=True)
class Episode:
    """One recorded episode, T steps. ``obs`` is the env's observation stacked over T + 1 steps (a dict
    of arrays for Dict spaces), ``actions`` (T, A), ``rewards``/``terminated``/``truncated`` (T,);
    with ``physics=True`` ``physics_state`` (T + 1, n), with ``frames=k`` ``frames`` (k, H, W, 3): the
    env's rendered frame of the first k observations."""

    obs: dict[str, np.ndarray] | np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    physics_state: np.ndarray | None = None
    frames: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())

    @property
    def ended(self) -> bool:
        """Whether the env ended the episode (terminated or truncated), rather than a step budget."""
        return bool(len(self) and (self.terminated[-1] or self.truncated[-1]))

    def key(self, name: str) -> np.ndarray:
        """One observation key's (T + 1, ...) array (the whole observation for a single-key env)."""
        return self.obs[name] if isinstance(self.obs, dict) else self.obs


def run_episode(
    env,
    policy,
    seed: int | None,
    *,
    steps: int | None = None,
    options: dict | None = None,
    rng: np.random.Generator | None = None,
    physics: bool = False,
    frames: int = 0,
) -> Episode:
    """Reset ``env`` with ``seed`` and run ``policy`` until the episode ends or ``steps`` steps.

    Args:
        env: a gymnasium env (a `wmgym.truth.TruthEnv` for ``physics``).
        policy: a `wmgym.policies` policy, or any ``fn(obs) -> action``; called on the observation as
            the env returns it.
        seed: the reset seed.
        steps: stop after this many steps even if the episode goes on.
        options: ``env.reset`` options (e.g. ``{"physics_state": s}``).
        rng: the policy's random generator for this episode (default: one seeded with ``seed``).
        physics: record ``env.get_physics_state()`` at every observation.
        frames: render (``env.render()``) the first ``frames`` observations, e.g. the context frames
            of a state-observation env.
    """
    policy = as_policy(policy)
    obs, _ = env.reset(seed=seed, options=options)
    policy.reset(rng if rng is not None else np.random.default_rng(seed))
    rec = _Recorder(env, physics, frames)
    rec.observe(obs)
    done, t = False, 0
    while not done and (steps is None or t < steps):
        action = np.asarray(policy(obs), np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        rec.step(action, reward, terminated, truncated)
        rec.observe(obs)
        done, t = terminated or truncated, t + 1
    return rec.episode()


class _Recorder:
    def __init__(self, env, physics: bool, frames: int):
        self.env, self.physics, self.frames = env, physics, frames
        self.obs, self.actions, self.rewards, self.terms, self.truncs = [], [], [], [], []
        self.states, self.rendered = [], []

    def observe(self, obs) -> None:
        self.obs.append(obs)
        if self.physics:
            self.states.append(self.env.get_physics_state())
        if len(self.rendered) < self.frames:
            self.rendered.append(self.env.render())

    def step(self, action, reward, terminated, truncated) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.terms.append(terminated)
        self.truncs.append(truncated)

    def episode(self) -> Episode:
        first = self.obs[0]
        obs = {k: np.stack([o[k] for o in self.obs]) for k in first} if isinstance(first, dict) else np.stack(self.obs)
        action_shape = np.shape(self.env.action_space.sample()) if not self.actions else None
        return Episode(
            obs=obs,
            actions=np.stack(self.actions) if self.actions else np.zeros((0, *action_shape), np.float32),
            rewards=np.asarray(self.rewards, np.float32),
            terminated=np.asarray(self.terms, bool),
            truncated=np.asarray(self.truncs, bool),
            physics_state=np.stack(self.states) if self.physics else None,
            frames=np.stack(self.rendered) if self.rendered else None,
        )
