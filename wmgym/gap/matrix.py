"""The gap matrix: returns of policies (rows) in worlds (columns: nominal MuJoCo, perturbed MuJoCo
robots, dreams), with bootstrap intervals over episodes, and how well each dream ranks the policies
as each MuJoCo world does (SIMPLER's metrics, Li et al. 2024: Pearson r and MMRV)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from wmgym.episode import run_episode
from wmgym.metrics import bootstrap_ci, mmrv, pearson
from wmgym.policies import SB3Policy, clone_policy, make_policy


@dataclass(frozen=True)
class World:
    """A column of the matrix: MuJoCo (``robot`` None: nominal) or a dream (``model``)."""

    name: str
    kind: str
    """``mujoco`` or ``dream``."""
    robot: object | None = None
    """The `Perturbation` of a MuJoCo world (None: nominal)."""
    model: str | None = None
    """Zoo name or checkpoint folder of a dream world."""


def returns(
    world: World, task: str, policy: str, episodes: int, seed: int, device: str = "cpu", envs: dict | None = None
) -> np.ndarray:
    """Per-episode returns of ``policy`` (a `wmgym.policies` name or SB3 .zip) over whole episodes of
    ``world`` on state observations, from reset seeds ``seed``, ``seed + 1``, ... (the same seeds for
    every MuJoCo world, so they start from the same states). A dream episode starts from its model's
    real contexts and runs the task's episode length. ``envs`` keeps the dream envs built, by model,
    for the next call."""
    if world.kind == "mujoco":
        return _truth_returns(task, world.robot, policy, episodes, seed)
    envs = {} if envs is None else envs
    if world.model not in envs:
        from wmgym.dream.vector_env import DreamVectorEnv

        envs[world.model] = DreamVectorEnv.load(world.model, num_envs=episodes, device=device, autoreset=False)
    return _dream_returns(envs[world.model], policy, seed)


def _truth_returns(task: str, robot, policy: str, episodes: int, seed: int) -> np.ndarray:
    from wmgym.truth import TruthEnv

    env = TruthEnv(task, obs_mode="state", perturbation=robot)
    try:
        pol = make_policy(policy, env)
        return np.array([run_episode(env, pol, seed + i).total_reward for i in range(episodes)])
    finally:
        env.close()


def _dream_returns(env, policy: str, seed: int) -> np.ndarray:
    n = env.num_envs
    single = SimpleNamespace(
        action_space=env.single_action_space,
        observation_space=env.single_observation_space,
        _spaces={"state": env.single_observation_space},
    )
    act = _batched(make_policy(policy, single), n, seed)
    obs, _ = env.reset(seed=seed)
    total, alive = np.zeros(n), np.ones(n, bool)
    while alive.any():
        obs, reward, terminated, truncated, _ = env.step(act(np.asarray(obs)))
        total += np.where(alive, np.asarray(reward, np.float64), 0.0)
        alive &= ~(np.asarray(terminated) | np.asarray(truncated))
    return total


def _batched(policy, n: int, seed: int):
    """``fn(obs (n, S)) -> actions (n, A)``: one SB3 call for the batch (a noiseless SB3 policy), else
    a copy of the policy per row with its own generator."""
    if isinstance(policy, SB3Policy) and not policy.noise:
        return lambda obs: np.clip(policy.model.predict(obs, deterministic=True)[0], policy.low, policy.high)
    policies = clone_policy(policy, n)
    for i, p in enumerate(policies):
        p.reset(np.random.default_rng(seed + i))
    return lambda obs: np.stack([p(o) for p, o in zip(policies, obs, strict=True)])


def cell(episode_returns: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    """Mean return with its 95% percentile-bootstrap interval over episodes."""
    r = np.asarray(episode_returns, np.float64)
    low, high = bootstrap_ci(np.mean, [r], n=n_boot, seed=seed)
    return {"mean": float(r.mean()), "ci95": [low, high], "episodes": [float(x) for x in r]}


@dataclass(frozen=True)
class Scale:
    """Normalized return = (R - random) / (expert - random): 0 a random policy, 1 the expert."""

    random: float
    expert: float
    how: str

    def __call__(self, r):
        return (np.asarray(r, np.float64) - self.random) / (self.expert - self.random)


def ranking(real: list[np.ndarray], sim: list[np.ndarray], scale: Scale, n_boot: int, seed: int = 0) -> dict:
    """How ``sim`` (a dream) ranks the policies against ``real`` (a MuJoCo world): Pearson r of their
    mean returns, and MMRV of normalized returns (0: every pair ordered as in reality; in normalized
    return), each with a 95% bootstrap interval (episodes resampled within each policy, both sides)."""
    k = len(real)

    def stats(*samples):
        means = np.array([s.mean() for s in samples])
        return means[:k], means[k:]

    def r_of(*s):
        return pearson(*stats(*s))

    def mmrv_of(*s):
        real_m, sim_m = stats(*s)
        return mmrv(scale(real_m), scale(sim_m))

    samples = [np.asarray(x, np.float64) for x in (*real, *sim)]
    real_m, sim_m = stats(*samples)
    return {
        "policies": k,
        "pearson": pearson(real_m, sim_m),
        "pearson_ci95": list(bootstrap_ci(r_of, samples, n=n_boot, seed=seed)),
        "mmrv": mmrv(scale(real_m), scale(sim_m)),
        "mmrv_ci95": list(bootstrap_ci(mmrv_of, samples, n=n_boot, seed=seed)),
    }
