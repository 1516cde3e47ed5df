"""`DreamEnv`: one learned world model as a `gymnasium.Env` (numpy in, numpy out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from wmgym.dream.loading import load_dream
from wmgym.dream.vector_env import DreamVectorEnv


class DreamEnv(gym.Env):
    """A learned world model that behaves as a Gymnasium environment.

    Observation (``obs_mode``): ``"state"`` (default: the MuJoCo env's own observation vector, as
    predicted, so a policy trained on it runs unchanged on ``gymnasium.make(spec.gym_id)``),
    ``"pixels"`` (uint8 (H, W, 3) frames decoded from the latent), ``"latent"`` (the model's
    features), or a sequence of those keys (a Dict space).

    Action: the task's action box, numpy (or a CPU tensor); actions outside it are clipped, as MuJoCo
    clamps controls.

    Reset: from real context, a few true frames and actions from the model's held-out data chosen
    by the seed, or the user's own: ``reset(options={"context": {"pixels": uint8 (K+1, H, W, 3),
    "actions": float32 (K, A), "state": float32 (K+1, S)}})``. The model filters the context and the
    episode continues from its last frame.

    Step: reward from the reward head; ``terminated`` when the continue head's probability falls
    below 0.5 (tasks that terminate); ``truncated`` at the spec's episode length (counted from the
    reset) or when ``info["uncertainty"]`` (ensemble disagreement, in the model's units) exceeds
    ``uncertainty_threshold``, which keeps a policy from exploiting where the model is wrong.

    Args:
        model: zoo name or checkpoint folder.
        obs_mode: ``"state"``, ``"pixels"``, ``"latent"`` or a sequence of them (see above).
        uncertainty_threshold: a finite number (the model's uncertainty units), or None to never truncate on uncertainty.
        sample: sample the stochastic latent (True) or take its mode (False, deterministic).
        device: where the model runs; observations come back as numpy either way.
        render_mode: None or ``"rgb_array"`` (the decoded frame).
        expected_task: refuse a model of any other task; the registered ids set it, so
            ``gym.make("wmgym/Reacher-v0", model="pusher")`` fails rather than serving a pusher
            under the Reacher id.

    Raises:
        CheckpointError: no such zoo model or checkpoint folder.
        ValueError: the model's task is not ``expected_task``, or a bad ``uncertainty_threshold``;
            at reset and step, the inputs `DreamVectorEnv` refuses (each error says how to fix it).

    Example:
        >>> env = DreamEnv("runs/reacher/checkpoint")
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> info["uncertainty"]

    Version history:
        v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        model: str | Path = "reacher",
        obs_mode: str | tuple[str, ...] | list[str] = "state",
        uncertainty_threshold: float | None = None,
        sample: bool = True,
        device: str = "cpu",
        render_mode: str | None = None,
        expected_task: str | None = None,
    ):
        self._vec = DreamVectorEnv(
            *load_dream(model, device, expected_task),
            num_envs=1,
            obs_mode=obs_mode,
            uncertainty_threshold=uncertainty_threshold,
            sample=sample,
            autoreset=False,
            render_mode="rgb_array",
            array_type="numpy",
        )
        self.task_spec = self._vec.task_spec
        self.render_mode = render_mode
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, _ = self._vec.reset(seed=seed, options=options)
        return _first(obs), {}

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action for task {self.task_spec.name!r} must have shape {self.action_space.shape}, got {action.shape}"
            )
        if not np.isfinite(action).all():
            raise ValueError(f"action must be finite, got {action}: check the policy's output before stepping")
        obs, reward, terminated, truncated, info = self._vec.step(action[None])
        return (
            _first(obs),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {"uncertainty": float(info["uncertainty"][0])},
        )

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            gym.logger.warn("DreamEnv.render() needs render_mode='rgb_array'")
            return None
        return self._vec.render()[0]


def _first(obs):
    """Env 0's observation of a batch of one."""
    return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]
