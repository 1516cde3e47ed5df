"""What an agent is given to train on: a task's dream, with a meter of the dream steps it spends.

`Dream` is the ``make_env`` of the agent signature (docs/benchmarks.md): ``make_env(num_envs)``
returns a batched `DreamVectorEnv` (state observations, numpy) whose every step is counted; an agent
that imagines on the world model directly (`Dream.world_model`) counts its own latent steps with
`Dream.spend`. Going past the budget raises `BudgetExceeded`, so no agent trains longer than another.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from gymnasium.vector import VectorWrapper

from wmgym.dream.loading import load_dream
from wmgym.dream.vector_env import DreamVectorEnv


class BudgetExceeded(RuntimeError):
    """An agent stepped the dream past its budget."""


class Dream:
    """A task's dream for one cell, and the meter of its budget.

    Args:
        model: zoo name or checkpoint folder.
        budget: dream steps the agent may spend.
        report: called with the steps spent so far (progress bars), at most every ``every`` seconds.
        on_episode: called with (steps spent, mean return) of dream episodes that just ended.
    """

    def __init__(
        self,
        model: str,
        budget: int,
        report: Callable[[int], None] | None = None,
        on_episode: Callable[[int, float], None] | None = None,
        every: float = 1.0,
    ):
        self.model, self.budget, self.steps = model, budget, 0
        self._report, self._on_episode, self._every, self._last = report, on_episode, every, 0.0
        self._loaded = None

    def __call__(self, num_envs: int = 1, **kwargs) -> VectorWrapper:
        """A counted `DreamVectorEnv` of ``num_envs`` envs (keywords go to `DreamVectorEnv`)."""
        kwargs.setdefault("obs_mode", "state")
        return Metered(DreamVectorEnv(*self.world_model(), num_envs=num_envs, **kwargs), self)

    def world_model(self):
        """(world model, TaskSpec, action space, context bank), loaded once per cell."""
        if self._loaded is None:
            self._loaded = load_dream(self.model, "cpu")
        return self._loaded

    def spend(self, n: int) -> None:
        """Count ``n`` dream steps (env steps, or imagined latent steps)."""
        if self.steps + n > self.budget:
            raise BudgetExceeded(
                f"the agent asked for {self.steps + n} dream steps, over its budget of {self.budget}: "
                "an agent must stop at its budget (make_env's envs count every env step)"
            )
        self.steps += n
        now = time.monotonic()
        if self._report is not None and (now - self._last > self._every or self.steps == self.budget):
            self._last = now
            self._report(self.steps)

    def episodes_ended(self, returns: np.ndarray) -> None:
        if self._on_episode is not None and len(returns):
            self._on_episode(self.steps, float(np.mean(returns)))


class Metered(VectorWrapper):
    """A vector env that charges every step of every env to a `Dream`'s budget, and sums episode returns."""

    def __init__(self, env: DreamVectorEnv, dream: Dream):
        super().__init__(env)
        self.dream = dream
        self._returns = np.zeros(env.num_envs)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        mask = None if not options else options.get("reset_mask")
        self._returns[np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)] = 0
        return obs, info

    def step(self, actions):
        self.dream.spend(self.num_envs)
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._returns += np.asarray(reward, np.float64)
        done = np.asarray(terminated) | np.asarray(truncated)
        if done.any():
            self.dream.episodes_ended(self._returns[done])
            self._returns[done] = 0
        return obs, reward, terminated, truncated, info
