"""A stable-baselines3 `VecEnv` over `DreamVectorEnv`, so SB3 trains in the dream directly, batched,
without SubprocVecEnv (the pattern of Isaac Lab's ``Sb3VecEnvWrapper``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from wmgym.dream.vector_env import DreamVectorEnv


def _numpy(x):
    """numpy as is (the env's default ``array_type``); a ``"torch"`` env's tensors copied to the host."""
    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


class Sb3VecEnv(VecEnv):
    """SB3's VecEnv interface on a batched dream env (numpy at the boundary, torch inside).

    SB3 wants numpy, so the env should return numpy (``array_type="numpy"``, what `sb3_vec_env`
    builds): each array then crosses to the host once, in the env, and on CPU without a copy. A
    ``"torch"`` env works too (its tensors are copied here).

    Done envs reset in the same step; their last observation is in ``infos[i]["terminal_observation"]``
    and ``infos[i]["TimeLimit.truncated"]`` says a truncation, as SB3's own VecEnvs do.
    """

    def __init__(self, venv: DreamVectorEnv):
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self):
        seed = self._seeds[0]
        options = self._options[0] or None
        obs, _ = self.venv.reset(seed=None if seed is None else int(seed), options=options)
        self._reset_seeds()
        self._reset_options()
        return _numpy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        obs, trunc, unc = _numpy(obs), _numpy(truncated), _numpy(info["uncertainty"])
        done = _numpy(terminated) | trunc
        final = _numpy(info["final_obs"]) if "final_obs" in info else None
        infos: list[dict[str, Any]] = [{"uncertainty": float(u)} for u in unc]
        for i in np.flatnonzero(done):
            infos[i]["terminal_observation"] = (
                {k: v[i] for k, v in final.items()} if isinstance(final, dict) else final[i]
            )
            infos[i]["TimeLimit.truncated"] = bool(trunc[i])
        return obs, _numpy(reward).astype(np.float32), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        return [getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self):
        return list(self.venv.render())


def sb3_vec_env(model: str = "reacher", n_envs: int = 64, device: str = "cpu", **kwargs) -> Sb3VecEnv:
    """An SB3 VecEnv of ``n_envs`` dream envs: ``PPO("MlpPolicy", wmgym.sb3_vec_env("reacher", n_envs=64))``.

    Args:
        model: zoo name or checkpoint folder.
        n_envs: number of envs, stepped in one batch.
        device: where the world model runs (``cpu``, ``cuda``).
        **kwargs: passed to `DreamVectorEnv` (``obs_mode``, ``uncertainty_threshold``, ...); its
            ``array_type`` is numpy, what SB3 consumes.
    """
    kwargs = {"render_mode": "rgb_array", "array_type": "numpy", **kwargs}
    return Sb3VecEnv(DreamVectorEnv.load(model, num_envs=n_envs, device=device, **kwargs))
