"""Policy-level calibration: does the dream rank policies as MuJoCo does?

Each policy runs closed loop in MuJoCo from seeded starts; the dream env starts from the same
first frames (the truth's context) and runs the same policy closed loop on its own predicted
states. Returns are summed over the steps after the context, on both sides.
"""

from __future__ import annotations

import numpy as np

from wmgym.calibrate.rollouts import context_bank, episodes_past_context
from wmgym.dream.vector_env import DreamVectorEnv
from wmgym.metrics import bootstrap_ci, pearson, spearman
from wmgym.model.context import ContextBank
from wmgym.policies import clone_policy, make_policy, policy_label
from wmgym.truth import TruthEnv


def policy_returns(
    dream: DreamVectorEnv, policy: str, episodes: int, seed: int, context: int, steps: int, perturbation=None
) -> dict:
    """Mean and per-episode returns of ``policy`` over ``steps`` steps after ``context``, in MuJoCo and
    in ``dream`` (a vector env of ``episodes`` envs, state observations, autoreset off).

    Args:
        dream: the dream side; its first ``context`` frames are the MuJoCo episodes' own.
        policy: a policy name (`wmgym.policies.make_policy`), called on the state vector on both sides.
        episodes: episodes on each side (``dream.num_envs``).
        seed: the first MuJoCo seed; an episode that ends within the context is replaced by the next.
        context: real steps before the returns are counted.
        steps: steps counted after the context.
        perturbation: the MuJoCo side is this "real robot" (`wmgym.truth.perturb`; None: nominal).

    Returns:
        ``policy`` (its label), ``truth`` and ``dream`` (mean returns), ``truth_episodes`` and
        ``dream_episodes`` (per episode), ``truth_length`` and ``dream_length`` (mean steps after the
        context before the episode ended or ``steps`` ran out: where a dream ends episodes early).
    """
    spec = dream.task_spec.replace(episode_length=context + steps)
    env = TruthEnv(spec, obs_mode="state", render_mode="rgb_array", perturbation=perturbation)
    try:
        pol = make_policy(policy, env)
        eps = list(episodes_past_context(env, pol, episodes, seed, context, frames=context + 1))
    finally:
        env.close()
    truth = [float(ep.rewards[context:].sum(dtype=np.float64)) for ep in eps]
    dream_returns, dream_lengths = _dream_returns(
        dream, context_bank(eps, context), clone_policy(pol, episodes), seed, steps
    )
    return {
        "policy": policy_label(policy),
        "truth": float(np.mean(truth)),
        "dream": float(np.mean(dream_returns)),
        "truth_length": float(np.mean([len(ep.rewards) - context for ep in eps])),
        "dream_length": float(np.mean(dream_lengths)),
        "truth_episodes": truth,
        "dream_episodes": [float(x) for x in dream_returns],
    }


def _dream_returns(
    dream: DreamVectorEnv, bank: ContextBank, policies: list, seed: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths (steps taken) of ``policies`` (one per env, each on its own row of the
    observation) over ``steps`` steps in ``dream``, started from ``bank``. The env may return numpy
    arrays or CPU tensors."""
    n = dream.num_envs
    obs, _ = dream.reset(seed=seed, options={"context": bank, "context_index": np.arange(n)})
    for i, p in enumerate(policies):
        p.reset(np.random.default_rng(seed + 10_000 + i))
    total, alive, length = np.zeros(n), np.ones(n, bool), np.zeros(n, int)
    for _ in range(steps):
        state = np.asarray(obs)
        actions = np.stack([p(state[i]) for i, p in enumerate(policies)])
        obs, reward, terminated, truncated, _ = dream.step(actions)
        total += np.where(alive, np.asarray(reward), 0.0)
        length += alive
        alive &= ~(np.asarray(terminated) | np.asarray(truncated))
        if not alive.any():
            break
    return total, length


def correlation(results: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Pearson and Spearman between dream and MuJoCo mean returns across policies, with 95% percentile
    bootstrap intervals (`wmgym.metrics.bootstrap_ci`: episodes resampled within each policy, on both
    sides), and the mean absolute return error."""
    truth = np.array([r["truth"] for r in results])
    dream = np.array([r["dream"] for r in results])
    samples = [np.asarray(r[side]) for side in ("truth_episodes", "dream_episodes") for r in results]
    out = {"policies": len(results), "pearson": pearson(truth, dream), "spearman": spearman(truth, dream)}
    for name, stat in (("pearson", pearson), ("spearman", spearman)):
        ci = bootstrap_ci(_of_mean_returns(stat, len(results)), samples, n=n_boot, seed=seed)
        out[f"{name}_ci95"] = list(ci)
    out["return_mae"] = float(np.mean(np.abs(truth - dream)))
    return out


def _of_mean_returns(stat, policies: int):
    """``stat(truth means, dream means)`` of resampled episodes: ``policies`` truth samples, then as
    many dream samples."""

    def f(*samples):
        means = np.array([s.mean() for s in samples])
        return stat(means[:policies], means[policies:])

    return f
