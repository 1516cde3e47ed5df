"""Policy-level calibration: does the dream rank policies as MuJoCo does?

Each policy runs closed loop in MuJoCo from seeded starts; the dream env starts from the same
first frames (the truth's context) and runs the same policy closed loop on its own predicted
states. Returns are summed over the steps after the context, on both sides.
"""

from __future__ import annotations

import numpy as np

from wmgym.calibrate.rollouts import build_policy, clone_policy, policy_label
from wmgym.dream.vector_env import DreamVectorEnv
from wmgym.metrics import pearson, spearman
from wmgym.model.context import ContextBank
from wmgym.truth import TruthEnv


def policy_returns(dream: DreamVectorEnv, policy: str, episodes: int, seed: int, context: int, steps: int) -> dict:
    """Mean and per-episode returns of ``policy`` over ``steps`` steps after ``context``, in MuJoCo and
    in ``dream`` (a vector env of ``episodes`` envs, state observations, autoreset off)."""
    task = dream.task_spec
    env = TruthEnv(task.replace(episode_length=context + steps), obs_mode="state", render_mode="rgb_array")
    pol = build_policy(policy, env)
    truth, pix, sts, acts, s = [], [], [], [], seed
    while len(truth) < episodes:
        if s - seed > 20 * episodes + 20:
            raise RuntimeError(f"policy {policy!r} ends nearly every {task.name!r} episode within {context} steps")
        obs, _ = env.reset(seed=s)
        pol.reset(np.random.default_rng(s))
        s += 1
        p, st, a, total, ok = [env.render()], [obs], [], 0.0, True
        for t in range(context + steps):
            act = np.asarray(pol({"state": obs}), np.float32)
            obs, r, term, trunc, _ = env.step(act)
            if t < context:
                p.append(env.render()), st.append(obs), a.append(act)
                if term:
                    ok = False
                    break
            else:
                total += r
            if term or trunc:
                break
        if ok:
            truth.append(total)
            pix.append(np.stack(p)), sts.append(np.stack(st)), acts.append(np.stack(a))
    env.close()
    bank = ContextBank(np.stack(pix), np.stack(acts), np.stack(sts).astype(np.float32))
    dream_returns = _dream_returns(dream, bank, clone_policy(pol, episodes), seed, steps)
    return {
        "policy": policy_label(policy),
        "truth": float(np.mean(truth)),
        "dream": float(np.mean(dream_returns)),
        "truth_episodes": [float(x) for x in truth],
        "dream_episodes": [float(x) for x in dream_returns],
    }


def _dream_returns(dream: DreamVectorEnv, bank: ContextBank, policies: list, seed: int, steps: int) -> np.ndarray:
    n = dream.num_envs
    obs, _ = dream.reset(seed=seed, options={"context": bank, "context_index": np.arange(n)})
    for i, p in enumerate(policies):
        p.reset(np.random.default_rng(seed + 10_000 + i))
    total, alive = np.zeros(n), np.ones(n, bool)
    for _ in range(steps):
        state = obs.cpu().numpy()
        actions = np.stack([p({"state": state[i]}) for i, p in enumerate(policies)])
        obs, r, term, trunc, _ = dream.step(actions)
        total += np.where(alive, r.cpu().numpy(), 0.0)
        alive &= ~(term | trunc).cpu().numpy()
        if not alive.any():
            break
    return total


def correlation(results: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Pearson and Spearman between dream and MuJoCo mean returns across policies, with percentile
    bootstrap intervals (episodes resampled within each policy, on both sides)."""
    truth = np.array([r["truth"] for r in results])
    dream = np.array([r["dream"] for r in results])
    rng = np.random.default_rng(seed)
    boots = {"pearson": [], "spearman": []}
    for _ in range(n_boot):
        t = np.array([np.mean(rng.choice(r["truth_episodes"], len(r["truth_episodes"]))) for r in results])
        d = np.array([np.mean(rng.choice(r["dream_episodes"], len(r["dream_episodes"]))) for r in results])
        boots["pearson"].append(pearson(t, d))
        boots["spearman"].append(spearman(t, d))
    out = {"policies": len(results), "pearson": pearson(truth, dream), "spearman": spearman(truth, dream)}
    for k, v in boots.items():
        v = np.asarray(v)
        v = v[np.isfinite(v)]
        out[f"{k}_ci95"] = [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [None, None]
    out["return_mae"] = float(np.mean(np.abs(truth - dream)))
    return out
