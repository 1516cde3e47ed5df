"""`DreamVectorEnv`: N dream envs stepped in one batched forward pass of the world model.

Knows the world model and the TaskSpec; nothing of MuJoCo.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from wmgym.dream import noise
from wmgym.dream.loading import load_dream
from wmgym.model import Latent, WorldModel
from wmgym.model.context import ContextBank
from wmgym.tasks import TaskSpec

OBS_KEYS = ("pixels", "state", "latent")


class DreamVectorEnv(VectorEnv):
    """N copies of a learned world model as a gymnasium vector env, batched on the model's device.

    Observations, rewards and flags are torch tensors on the model's device (CPU or CUDA); actions
    may be tensors or arrays of shape (N, A). Episodes start from real context (a few true frames
    and actions from the model's held-out data by default, or ``reset(options={"context": ...})``;
    ``options["context_index"]`` (N,) picks the entry each env starts from instead of a seeded draw);
    they end when the continue head says so (tasks that terminate), at the spec's episode length,
    or, with ``uncertainty_threshold``, when the model's uncertainty exceeds it. Finished envs reset
    in the same step (``AutoresetMode.SAME_STEP``): the returned observation starts the next episode,
    ``info["final_obs"]`` holds the last one (rows marked by ``info["_final_obs"]``).

    Each env has its own random stream, a function of its seed alone (see `wmgym.dream.noise`), so
    env ``i`` of a vector env seeded ``s`` behaves like a single `DreamEnv` seeded ``s + i``.

    Args:
        model: the world model (its device is the env's).
        task: the TaskSpec it was trained on (episode length, termination).
        action_space: the task's action box; actions are clipped to it, as MuJoCo clamps controls.
        context: real starts to draw from.
        num_envs: N.
        obs_mode: ``"state"`` (the MuJoCo env's observation vector, predicted), ``"pixels"``,
            ``"latent"``, or a sequence of those keys (a Dict space).
        uncertainty_threshold: truncate an episode when its per-step uncertainty exceeds this.
        sample: sample the stochastic latent (True) or take its mode (False, deterministic).
        autoreset: reset finished envs in the same step (a vector env's contract); `DreamEnv` turns it off.
        precision: ``"fp32"`` (default: a vector env then equals single envs to float tolerance) or
            ``"bf16"`` autocast, ~1.5x the steps/s on this CPU (benchmarks/results/dream_throughput.md).
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        model: WorldModel,
        task: TaskSpec,
        action_space: spaces.Box,
        context: ContextBank,
        num_envs: int = 1,
        obs_mode: str | tuple[str, ...] | list[str] = "state",
        uncertainty_threshold: float | None = None,
        sample: bool = True,
        autoreset: bool = True,
        render_mode: str | None = None,
        precision: str = "fp32",
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.model = model.eval().requires_grad_(False)
        self.task_spec, self.context, self.num_envs = task, context, num_envs
        self.device = model.state_mean.device
        self.obs_keys, single = _parse_obs_mode(obs_mode)
        self.uncertainty_threshold, self.sample, self.autoreset = uncertainty_threshold, sample, autoreset
        self.render_mode = render_mode
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self._bf16 = precision == "bf16"
        self.single_action_space = spaces.Box(action_space.low, action_space.high, dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._spaces = _obs_spaces(model, task)
        self.single_observation_space = (
            self._spaces[self.obs_keys[0]] if single else spaces.Dict({k: self._spaces[k] for k in self.obs_keys})
        )
        self._single = single
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._low = torch.as_tensor(action_space.low, dtype=torch.float32, device=self.device)
        self._high = torch.as_tensor(action_space.high, dtype=torch.float32, device=self.device)
        self._latent = model.initial(num_envs)
        self._elapsed = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._seeds = np.zeros(num_envs, np.uint64)
        self._counters = np.zeros(num_envs, np.uint64)
        self._seeded = False
        self._started = np.zeros(num_envs, bool)

    @classmethod
    def load(cls, model: str = "reacher", num_envs: int = 1, device: str = "cpu", **kwargs) -> DreamVectorEnv:
        """A vector env of a zoo model (by name) or a checkpoint folder, on ``device``."""
        return cls(*load_dream(model, device), num_envs=num_envs, **kwargs)

    # -- gymnasium API ---------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        options = options or {}
        rows = np.flatnonzero(np.asarray(options.get("reset_mask", np.ones(self.num_envs, bool))))
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed must be an int or {self.num_envs} ints, got {len(seeds)}")
            self._seeds[rows] = np.asarray(seeds, dtype=np.uint64)[rows]
            self._counters[rows] = 0
            self._seeded = True
        elif not self._seeded:
            self._seeds[:] = np.random.SeedSequence().generate_state(self.num_envs, np.uint64)
            self._seeded = True
        bank = self.context
        if options.get("context") is not None:
            c = options["context"]
            bank = (
                c if isinstance(c, ContextBank) else ContextBank.from_arrays(c["pixels"], c["actions"], c.get("state"))
            )
            self._check_context(bank)
        index = options.get("context_index")
        if index is not None:
            index = np.asarray(index, int).reshape(-1)
            if index.shape != (self.num_envs,) or index.min() < 0 or index.max() >= len(bank):
                raise ValueError(
                    f"context_index must hold {self.num_envs} entries (one per env) in [0, {len(bank)}), "
                    f"the context's size; got {index.tolist()}"
                )
            index = index[rows]
        self._start(rows, bank, index)
        return self._observe(self._latent), {}

    @torch.no_grad()
    def step(self, actions):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._bf16):
            return self._step(actions)

    def _step(self, actions):
        if not self._started.all():
            raise RuntimeError("call reset() before step()")
        action = self._check_actions(actions)
        u = noise.uniform(self._seeds, self._counters, self.model.cfg.stoch * self.model.cfg.classes)
        self._counters += np.uint64(1)
        u = torch.as_tensor(u, dtype=torch.float32, device=self.device).view(
            self.num_envs, self.model.cfg.stoch, self.model.cfg.classes
        )
        self._latent, uncertainty = self.model.step(self._latent, action, self.sample, u)
        self._elapsed += 1
        obs = self._observe(self._latent)
        reward = self.model.reward(self._latent).float()
        if self.task_spec.terminates:
            terminated = self.model.terminated(self._latent)
        else:
            terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        truncated = self._elapsed >= self.task_spec.episode_length
        if self.uncertainty_threshold is not None:
            truncated |= uncertainty > self.uncertainty_threshold
        truncated &= ~terminated
        info = {"uncertainty": uncertainty.float(), "_uncertainty": np.ones(self.num_envs, bool)}
        done = (terminated | truncated).cpu().numpy()
        if self.autoreset and done.any():
            info["final_obs"], info["_final_obs"] = obs, done
            rows = np.flatnonzero(done)
            self._start(rows, self.context)
            obs = self._replace_rows(obs, self._observe(self._latent.index(torch.as_tensor(rows))), rows)
        return obs, reward, terminated, truncated, info

    @torch.no_grad()
    def render(self) -> np.ndarray | None:
        """Frames of every env, uint8 (N, H, W, 3)."""
        if self.render_mode != "rgb_array":
            gym.logger.warn("render() needs render_mode='rgb_array'")
            return None
        return self._pixels(self._latent).cpu().numpy()

    # -- internals -------------------------------------------------------------------------------
    def _start(self, rows: np.ndarray, bank: ContextBank, index: np.ndarray | None = None) -> None:
        """Filter a context for each env in ``rows`` (entry ``index``, else a seeded draw) and continue
        from its last frame."""
        if len(rows) == 0:
            return
        if index is not None:
            idx = index
        elif len(bank) == 1:
            idx = np.zeros(len(rows), int)
        else:
            u = noise.uniform(self._seeds[rows], self._counters[rows], 1)[:, 0]
            idx = np.minimum((u * len(bank)).astype(int), len(bank) - 1)
        self._counters[rows] += np.uint64(1)
        r = {k: torch.as_tensor(v, device=self.device) for k, v in bank.rows(idx).items()}
        last = self.model.start(r)
        t = torch.as_tensor(rows, device=self.device)
        self._latent = Latent(
            self._latent.deter.index_copy(0, t, last.deter), self._latent.stoch.index_copy(0, t, last.stoch)
        )
        self._elapsed[t] = 0
        self._started[rows] = True

    def _observe(self, latent: Latent):
        obs = {}
        if "pixels" in self.obs_keys:
            obs["pixels"] = self._pixels(latent)
        if "state" in self.obs_keys:
            obs["state"] = self.model.state(latent).float()
        if "latent" in self.obs_keys:
            obs["latent"] = latent.features().float()
        return obs[self.obs_keys[0]] if self._single else obs

    def _pixels(self, latent: Latent) -> torch.Tensor:
        return self.model.frames(latent)

    def _replace_rows(self, obs, new, rows: np.ndarray):
        t = torch.as_tensor(rows, device=self.device)
        if isinstance(obs, dict):
            return {k: obs[k].index_copy(0, t, new[k]) for k in obs}
        return obs.index_copy(0, t, new)

    def _check_actions(self, actions) -> torch.Tensor:
        a = torch.as_tensor(
            np.asarray(actions) if not torch.is_tensor(actions) else actions, dtype=torch.float32, device=self.device
        )
        if a.shape != (self.num_envs, *self.single_action_space.shape):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {', '.join(map(str, self.single_action_space.shape))}) "
                f"for {self.num_envs} envs of task {self.task_spec.name!r}, got {tuple(a.shape)}"
            )
        if not torch.isfinite(a).all():
            raise ValueError("actions must be finite; got NaN or inf")
        return torch.minimum(torch.maximum(a, self._low), self._high)

    def _check_context(self, bank: ContextBank) -> None:
        cfg = self.model.cfg
        h, w = cfg.image_size
        if bank.pixels.shape[2:] != (h, w, 3):
            raise ValueError(f"context pixels must be (K+1, {h}, {w}, 3) uint8, got {bank.pixels.shape[1:]}")
        if bank.actions.shape[-1] != cfg.action_dim or bank.state.shape[-1] != cfg.state_dim:
            raise ValueError(
                f"context actions must be (K, {cfg.action_dim}) and state (K+1, {cfg.state_dim}); "
                f"got {bank.actions.shape[1:]} and {bank.state.shape[1:]}"
            )


def _parse_obs_mode(obs_mode) -> tuple[tuple[str, ...], bool]:
    keys, single = ((obs_mode,), True) if isinstance(obs_mode, str) else (tuple(obs_mode), False)
    bad = [k for k in keys if k not in OBS_KEYS]
    if bad or not keys:
        raise ValueError(f"obs_mode must be one of {OBS_KEYS} or a sequence of them, got {obs_mode!r}")
    return keys, single


def _obs_spaces(model: WorldModel, task: TaskSpec) -> dict[str, spaces.Box]:
    h, w = model.cfg.image_size
    return {
        "pixels": spaces.Box(0, 255, (h, w, 3), np.uint8),
        "state": spaces.Box(-np.inf, np.inf, (model.cfg.state_dim,), np.float32),
        "latent": spaces.Box(-np.inf, np.inf, (model.cfg.latent_dim,), np.float32),
    }


def make_vector_env(
    num_envs: int = 1, model: str = "reacher", device: str = "cpu", max_episode_steps: int | None = None, **kwargs
) -> DreamVectorEnv:
    """gymnasium's ``vector_entry_point``: ``gym.make_vec("wmgym/Reacher-v0", num_envs=256)``.

    ``max_episode_steps`` (gymnasium passes the registered one) sets the episode length."""
    wm, task, action_space, context = load_dream(model, device)
    if max_episode_steps is not None:
        task = task.replace(episode_length=int(max_episode_steps))
    return DreamVectorEnv(wm, task, action_space, context, num_envs=num_envs, **kwargs)
