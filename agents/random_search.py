"""Augmented random search (Mania et al. 2018) over linear policies, in the batched dream: an example of
your own agent in ``wmgym bench``, written against the agent signature only.

Run in the benchmark:  PYTHONPATH=agents wmgym bench --suite smoke --agents ppo random_search:train --out runs/bench-ars
Run alone:             python agents/random_search.py --task reacher --budget 60000

Each iteration tries ``directions`` random perturbations of the policy's weights, both signs, as
2 x ``directions`` envs of one batched dream env stepping in parallel (one episode each), and moves
the weights along the directions that returned the most. Every env step counts against the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tyro


@dataclass
class Args:
    task: str = "reacher"
    budget: int = 60_000
    seed: int = 0
    directions: int = 16
    """Perturbations tried per iteration (each with both signs)."""
    top: int = 8
    """The best directions an update uses."""
    noise: float = 0.05
    step: float = 0.05
    eval_episodes: int = 10


def train(make_env, budget: int, seed: int, checkpoint=None, directions: int = 16, top: int = 8, noise=0.05, step=0.05):
    """The agent signature (docs/benchmarks.md): make_env(num_envs) -> a batched dream env; returns obs -> action."""
    env = make_env(2 * directions)
    rng = np.random.default_rng(seed)
    obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    low, high = env.single_action_space.low, env.single_action_space.high
    weights, mean, var, seen = np.zeros((act_dim, obs_dim)), np.zeros(obs_dim), np.ones(obs_dim), 1

    def act(w, obs):
        return np.clip(((obs - mean) / np.sqrt(var)) @ w.T, low, high)

    def policy(obs):
        return act(weights, np.asarray(obs)).astype(np.float32)

    horizon = _episode_steps(env)
    for _ in range(budget // (2 * directions * horizon)):
        deltas = rng.standard_normal((directions, act_dim, obs_dim))
        candidates = np.concatenate([weights + noise * deltas, weights - noise * deltas])  # (2D, A, S)
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        returns, live = np.zeros(2 * directions), np.ones(2 * directions, bool)
        for _ in range(horizon):
            seen, mean, var = _update_stats(seen, mean, var, obs[live])
            actions = np.einsum("nas,ns->na", candidates, (obs - mean) / np.sqrt(var)).clip(low, high)
            obs, reward, terminated, truncated, _ = env.step(actions.astype(np.float32))
            returns += np.where(live, reward, 0.0)
            live &= ~(terminated | truncated)
        plus, minus = returns[:directions], returns[directions:]
        best = np.argsort(-np.maximum(plus, minus))[:top]
        spread = np.concatenate([plus[best], minus[best]]).std() + 1e-8
        weights = weights + step / (top * spread) * np.einsum("k,kas->as", plus[best] - minus[best], deltas[best])
        if checkpoint is not None:
            checkpoint(policy)
    return policy


def _episode_steps(env) -> int:
    """The task's episode length, read from the dream env (each iteration runs one episode per env)."""
    return int(env.unwrapped.task_spec.episode_length)


def _update_stats(n: int, mean: np.ndarray, var: np.ndarray, batch: np.ndarray):
    """Running mean and variance of the observations (Welford, batched)."""
    if not len(batch):
        return n, mean, var
    m, k = batch.mean(0), len(batch)
    delta, total = m - mean, n + k
    new_mean = mean + delta * k / total
    new_var = (var * n + batch.var(0) * k + delta**2 * n * k / total) / total
    return total, new_mean, np.maximum(new_var, 1e-6)


def main(args: Args) -> None:
    from wmgym.bench.cell import truth_returns
    from wmgym.bench.dream import Dream

    dream = Dream(args.task, args.budget)
    policy = train(
        dream, args.budget, args.seed, directions=args.directions, top=args.top, noise=args.noise, step=args.step
    )
    returns = truth_returns(args.task, "nominal", policy, args.eval_episodes)
    print(f"{args.task}: ARS, {dream.steps} dream steps; MuJoCo return {np.mean(returns):.2f} +- {np.std(returns):.2f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
