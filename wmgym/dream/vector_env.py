"""`DreamVectorEnv`: N dream envs stepped in one batched forward pass of the world model.

Knows the world model and the TaskSpec; nothing of MuJoCo.
"""

from __future__ import annotations

import contextlib
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from wmgym.dream import checks, noise
from wmgym.dream.loading import load_dream
from wmgym.model import WorldModel
from wmgym.model.context import ContextBank
from wmgym.model.precision import resolve_precision
from wmgym.tasks import TaskSpec

OBS_KEYS = ("pixels", "state", "latent")


class DreamVectorEnv(VectorEnv):
    """N copies of a learned world model as a gymnasium vector env, batched on the model's device.

    The model computes in torch on its device (CPU or CUDA). What `reset` and `step` return
    (observations, rewards, ``terminated``, ``truncated`` and every ``info`` value) is numpy by default,
    as gymnasium's vector envs return, so gymnasium's vector wrappers work on it; ``array_type="torch"``
    returns torch tensors on the model's device instead, without a copy to the host, for GPU training
    loops (``gym.make_vec("wmgym/Reacher-v0", 256, device="cuda", array_type="torch")``). Actions may be
    numpy arrays or torch tensors of shape (N, A) in either mode. `render` returns numpy frames.

    Episodes start from real context (a few true frames and actions from the model's held-out data
    by default, or ``reset(options={"context": ...})``; ``options["context_index"]`` (N,) picks the
    entry each env starts from instead of a seeded draw; ``options["reset_mask"]``, a bool array (N,),
    resets only those envs). They end when the continue head says so (tasks that terminate), at the
    spec's episode length, or, with ``uncertainty_threshold``, when the model's uncertainty exceeds
    it. Finished envs reset in the same step (``AutoresetMode.SAME_STEP``): the returned observation
    starts the next episode, ``info["final_obs"]`` holds the last one (rows marked by
    ``info["_final_obs"]``). ``info["uncertainty"]`` is each env's uncertainty: the ensemble's disagreement, in the model's units
    (RSSM: nats per step; ensemble: the std of its members' particles, normalized-state units).

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
        uncertainty_threshold: truncate an episode when its per-step uncertainty exceeds this finite
            number; None never does.
        sample: sample the stochastic latent (True) or take its mode (False, deterministic).
        autoreset: reset finished envs in the same step (a vector env's contract); `DreamEnv` turns it off.
        precision: ``"fp32"`` (default: a vector env then equals single envs to float tolerance),
            ``"bf16"`` autocast, or ``"auto"``: bf16 only where the hardware computes it natively
            (CUDA GPUs with bf16; CPUs with AVX512-BF16 or AMX, for 256 envs or more), since on an
            AVX2-only CPU bf16 made the dream 5-14x slower, and on one with AVX512-BF16 0.74x as fast
            for one env (`wmgym.model.precision.choose_precision`).
        array_type: ``"numpy"`` (default) or ``"torch"``: what `reset` and `step` return (see above).
        threads: torch's intra-op threads while this env resets and steps on a CPU (restored after).
            None: 1 thread for up to ``SMALL_BATCH`` envs, torch's own setting for more: on small
            tensors, handing work between threads costs more than it saves (one env stepped ~10x
            faster on one thread of 2 busy cores: measured by hand, not by a benchmark).

    Raises:
        ValueError: on inputs it cannot use, each saying how to fix it: a bad ``array_type``,
            ``precision``, ``obs_mode`` or ``uncertainty_threshold``; at reset a ``reset_mask`` that is
            not a bool array (N,), a context that is not uint8 frames, holds NaN/inf or fits another
            task; at step actions of the wrong shape or with NaN/inf.

    Example:
        >>> import gymnasium as gym
        >>> from gymnasium.wrappers.vector import RecordEpisodeStatistics
        >>> envs = RecordEpisodeStatistics(gym.make_vec("wmgym/Reacher-v0", num_envs=64))
        >>> obs, info = envs.reset(seed=0)  # numpy (64, 10)
        >>> obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
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
        array_type: str = "numpy",
        threads: int | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.model = model.eval().requires_grad_(False)
        self.task_spec, self.context, self.num_envs = task, context, num_envs
        self.device = model.state_mean.device
        self.obs_keys, single = _parse_obs_mode(obs_mode)
        if "state" in self.obs_keys and not model.cfg.state_dim:
            raise ValueError(
                f"task {task.name!r} has no state vector (its data recorded no proprioception): "
                "use obs_mode='pixels' or 'latent'"
            )
        self.uncertainty_threshold, self.sample, self.autoreset = uncertainty_threshold, sample, autoreset
        self.array_type = checks.array_type(array_type)
        self.render_mode = render_mode
        self._bf16 = resolve_precision(precision, self.device, num_envs) == "bf16"
        self._threads = _step_threads(threads, num_envs, self.device)
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

    @property
    def uncertainty_threshold(self) -> float | None:
        """Truncate an episode when its uncertainty (the model's units, see above) exceeds this; None: never."""
        return self._uncertainty_threshold

    @uncertainty_threshold.setter
    def uncertainty_threshold(self, value: float | None) -> None:
        self._uncertainty_threshold = checks.uncertainty_threshold(value)

    # -- gymnasium API ---------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        with _torch_threads(self._threads):
            return self._reset(seed, options or {})

    def _reset(self, seed, options: dict[str, Any]):
        rows = np.flatnonzero(checks.reset_mask(options.get("reset_mask"), self.num_envs))
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
            bank = checks.context(options["context"], self.model.cfg, self.task_spec.name)
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
        return self._out(self._observe(self._latent)), {}

    @torch.no_grad()
    def step(self, actions):
        with _torch_threads(self._threads), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._bf16):
            return self._step(actions)

    def _step(self, actions):
        if not self._started.all():
            raise RuntimeError("call reset() before step()")
        action = self._clip(
            checks.actions(actions, self.num_envs, self.single_action_space.shape, self.task_spec.name, self.device)
        )
        u = noise.uniform(self._seeds, self._counters, self.model.noise_dim)
        self._counters += np.uint64(1)
        u = torch.as_tensor(u, dtype=torch.float32, device=self.device).view(self.num_envs, self.model.noise_dim)
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
        return self._out(obs), self._out(reward), self._out(terminated), self._out(truncated), self._out(info)

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
        r = {k: torch.as_tensor(v, device=self.device) for k, v in bank.rows(idx, self.model.start_reads).items()}
        last = self.model.start(r)
        t = torch.as_tensor(rows, device=self.device)
        # a latent is a NamedTuple of batch-first tensors, whatever the model's kind
        self._latent = type(last)(*(old.index_copy(0, t, new) for old, new in zip(self._latent, last, strict=True)))
        self._elapsed[t] = 0
        self._started[rows] = True

    def _observe(self, latent):
        obs = {}
        if "pixels" in self.obs_keys:
            obs["pixels"] = self._pixels(latent)
        if "state" in self.obs_keys:
            obs["state"] = self.model.state(latent).float()
        if "latent" in self.obs_keys:
            obs["latent"] = latent.features().float()
        return obs[self.obs_keys[0]] if self._single else obs

    def _pixels(self, latent) -> torch.Tensor:
        return self.model.frames(latent)

    def _replace_rows(self, obs, new, rows: np.ndarray):
        t = torch.as_tensor(rows, device=self.device)
        if isinstance(obs, dict):
            return {k: obs[k].index_copy(0, t, new[k]) for k in obs}
        return obs.index_copy(0, t, new)

    def _clip(self, action: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(action, self._low), self._high)

    def _out(self, x):
        """What the env returns: numpy arrays, or tensors on the model's device (``array_type``)."""
        if isinstance(x, dict):
            return {k: self._out(v) for k, v in x.items()}
        if self.array_type == "torch":
            return torch.as_tensor(x, device=self.device)
        return x.cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


SMALL_BATCH = 64
"""Up to this many envs on a CPU, a vector env steps on one torch thread (see ``threads``)."""


def _step_threads(threads: int | None, num_envs: int, device: torch.device) -> int | None:
    """The thread count to step with, or None to leave torch's setting alone."""
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be None or a positive int, got {threads!r}")
        return threads if device.type == "cpu" else None
    return 1 if device.type == "cpu" and num_envs <= SMALL_BATCH else None


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` torch intra-op threads (None: as set), restoring the setting after (~0.3 us)."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    num_envs: int = 1,
    model: str = "reacher",
    device: str = "cpu",
    max_episode_steps: int | None = None,
    expected_task: str | None = None,
    **kwargs,
) -> DreamVectorEnv:
    """gymnasium's ``vector_entry_point``: ``gym.make_vec("wmgym/Reacher-v0", num_envs=256)``.

    ``max_episode_steps`` (gymnasium passes the registered one) sets the episode length;
    ``expected_task`` (the registered ids set it) refuses a model of another task; other keywords go
    to `DreamVectorEnv` (``array_type="torch"``, ``obs_mode``, ...)."""
    wm, task, action_space, context = load_dream(model, device, expected_task)
    if max_episode_steps is not None:
        task = task.replace(episode_length=int(max_episode_steps))
    return DreamVectorEnv(wm, task, action_space, context, num_envs=num_envs, **kwargs)
