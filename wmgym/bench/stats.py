"""The statistics of a benchmark run, computed with rliable (Agarwal et al. 2021) on the cells' scores.

No torch, MuJoCo or gymnasium: numpy, rliable, and the tasks' references. A cell's score is the mean
of its MuJoCo evaluation returns; a run's scores per agent form a (seeds, tasks) matrix, the shape
rliable takes.

- **Normalized scores** (random policy 0, the task's MuJoCo-trained reference 1; `TaskSpec.reference`)
  exist only for tasks that have a reference. Aggregates across tasks (IQM, mean, optimality gap,
  performance profiles, the aggregate sample-efficiency curve) use those tasks only, and say which;
  raw returns of different tasks are on different scales and are never pooled.
- **Per task**, the mean over seeds of the raw return (and of the normalized score, where there is a
  reference) with a 95% bootstrap CI over seeds.
- **Probability of improvement** P(X > Y) uses every task: it compares runs within a task, so it is
  the same for raw and normalized scores.
- **Dream vs MuJoCo**: per task, across the task's cells, Pearson and Spearman correlations of the
  dream's estimate with the MuJoCo return, and the MMRV (in return units, and normalized where there
  is a reference); ``overall`` averages each over the tasks.

Every confidence interval is a 95% stratified percentile bootstrap (rliable's ``StratifiedBootstrap``:
runs resampled within each task) with a fixed seed, so a run's results file is the same each time it
is computed from the same cells.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from wmgym.bench.config import NOMINAL
from wmgym.metrics import mmrv, pearson, spearman
from wmgym.tasks import get_task

METRICS = ("iqm", "mean", "optimality_gap")


def references(tasks) -> dict[str, dict | None]:
    """Each task's reference (random, expert, how), or None where it has none."""
    out = {}
    for task in tasks:
        ref = get_task(task).reference
        out[task] = None if ref is None else {"random": ref.random, "expert": ref.expert, "how": ref.how}
    return out


def normalize(task: str, returns):
    """Normalized score of raw returns (random 0, reference 1), or None for a task without a reference."""
    ref = get_task(task).reference
    return None if ref is None else (np.asarray(returns, np.float64) - ref.random) / (ref.expert - ref.random)


def score_matrices(cells: dict, tasks, agents, seeds, world: str = NOMINAL, normalized: bool = False) -> dict:
    """{agent: (seeds, tasks) array} of cell scores (mean MuJoCo return in ``world``), normalized if asked
    (then ``tasks`` must all have references)."""
    out = {}
    for agent in agents:
        m = np.array([[np.mean(cells[(t, agent, s)]["returns"][world]) for t in tasks] for s in seeds], np.float64)
        if normalized:
            m = np.stack([normalize(t, m[:, j]) for j, t in enumerate(tasks)], 1)
        out[agent] = m
    return out


def interval(scores: dict, func, reps: int, seed: int = 0) -> dict:
    """rliable's point estimates and 95% stratified-bootstrap CIs of ``func`` for each agent:
    {agent: (point (K,), ci (2, K))}."""
    from rliable import library as rly

    # rliable's stratified bootstrap draws its run indices from numpy's global generator (not from
    # random_state): seed it for repeatable CIs, and put the caller's state back after.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)  # arch 7's warning
            points, cis = rly.get_interval_estimates(scores, func, reps=reps, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)
    return {k: (np.atleast_1d(points[k]), np.asarray(cis[k]).reshape(2, -1)) for k in scores}


def aggregates(scores: dict, reps: int, seed: int = 0) -> dict:
    """IQM, mean and optimality gap (gamma 1) of normalized (seeds, tasks) scores, with CIs, per agent."""
    from rliable import metrics

    def func(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_optimality_gap(x)])

    est = interval(scores, func, reps, seed)
    return {a: {m: _value(p[i], ci[:, i]) for i, m in enumerate(METRICS)} for a, (p, ci) in est.items()}


def performance_profiles(scores: dict, reps: int, seed: int = 0, points: int = 41) -> dict:
    """Fraction of runs scoring above tau (rliable's score distribution), with CIs, on a tau grid."""
    from rliable import library as rly

    allv = np.concatenate([s.ravel() for s in scores.values()])
    taus = np.linspace(min(0.0, allv.min()), max(1.0, allv.max()), points)
    est = interval(scores, lambda x: rly.score_distributions(x, taus), reps, seed)
    return {
        "taus": taus.tolist(),
        "profiles": {a: {"value": p.tolist(), "ci": ci.tolist()} for a, (p, ci) in est.items()},
    }


def improvement(scores: dict, reps: int, seed: int = 0) -> dict:
    """P(X > Y) with CI for every ordered pair of agents, over all tasks (rliable's Mann-Whitney form)."""
    from rliable import metrics

    pairs = {f"{x},{y}": (scores[x], scores[y]) for x, y in itertools.permutations(scores, 2)}
    if not pairs:
        return {}
    est = interval(pairs, metrics.probability_of_improvement, reps, seed)
    return {k: _value(p[0], ci[:, 0]) for k, (p, ci) in est.items()}


def per_task(cells: dict, tasks, agents, seeds, world: str, reps: int, seed: int = 0) -> dict:
    """{task: {agent: {"return", "normalized" (or None), "dream_return"}}}: means over seeds with CIs."""
    out = {}
    for task in tasks:
        raw = {a: score_matrices(cells, [task], [a], seeds, world)[a] for a in agents}
        means = interval(raw, lambda x: np.array([x.mean()]), reps, seed)
        ref = normalize(task, 0.0) is not None
        scaled = {a: normalize(task, m) for a, m in raw.items()} if ref else {}
        normed = interval(scaled, lambda x: np.array([x.mean()]), reps, seed) if ref else {}
        dream = {a: float(np.mean([np.mean(cells[(task, a, s)]["dream_returns"]) for s in seeds])) for a in agents}
        out[task] = {
            a: {
                "return": _value(means[a][0][0], means[a][1][:, 0]),
                "normalized": _value(normed[a][0][0], normed[a][1][:, 0]) if ref else None,
                "dream_return": dream[a],
            }
            for a in agents
        }
    return out


def curves(cells: dict, tasks, agents, seeds, reps: int, seed: int = 0) -> dict:
    """Sample-efficiency curves: MuJoCo score vs dream steps at each curve point. Per task: mean raw
    return over seeds with CIs; ``aggregate``: IQM of normalized scores over the tasks with a reference.
    Agents whose cells did not report every point (their agent never called ``checkpoint``) are left out."""
    complete = [a for a in agents if all(p["returns"] is not None for c in _of(cells, a) for p in c["curve"])]
    if not complete:
        return {"targets": [], "per_task": {}, "aggregate": None}
    targets = [p["target"] for p in next(iter(cells.values()))["curve"]]
    raw = {a: _curve_tensor(cells, tasks, a, seeds) for a in complete}  # (S, T, P)
    out = {"targets": targets, "per_task": {}, "aggregate": None}
    for j, task in enumerate(tasks):
        est = interval({a: m[:, j : j + 1] for a, m in raw.items()}, lambda x: x.mean(axis=(0, 1)), reps, seed)
        out["per_task"][task] = {a: {"value": p.tolist(), "ci": ci.tolist()} for a, (p, ci) in est.items()}
    normed = [j for j, t in enumerate(tasks) if normalize(t, 0.0) is not None]
    if normed:
        from rliable import metrics

        scaled = {a: np.stack([normalize(tasks[j], m[:, j]) for j in normed], 1) for a, m in raw.items()}
        iqm = lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])  # noqa: E731
        est = interval(scaled, iqm, reps, seed)
        out["aggregate"] = {
            "tasks": [tasks[j] for j in normed],
            "iqm": {a: {"value": p.tolist(), "ci": ci.tolist()} for a, (p, ci) in est.items()},
        }
    return out


def correlation(cells: dict, tasks) -> dict:
    """Dream estimate vs MuJoCo return across each task's cells: Pearson, Spearman, MMRV; ``overall``:
    each statistic's mean over the tasks where it is defined."""
    out = {}
    for task in tasks:
        of = [c for (t, _, _), c in cells.items() if t == task]
        real = np.array([np.mean(c["returns"][NOMINAL]) for c in of])
        sim = np.array([np.mean(c["dream_returns"]) for c in of])
        normed = normalize(task, real)
        out[task] = {
            "cells": len(of),
            "pearson": pearson(sim, real),
            "spearman": spearman(sim, real),
            "mmrv": mmrv(real, sim),
            "mmrv_normalized": None if normed is None else mmrv(normed, normalize(task, sim)),
            "dream_minus_mujoco": float(np.mean(sim - real)),
        }
    keys = ("pearson", "spearman", "mmrv_normalized")
    out["overall"] = {k: _nanmean([out[t][k] for t in tasks]) for k in keys}
    return out


def summarize(cells: list[dict], tasks, agents, seeds, worlds, reps: int, seed: int = 0) -> dict:
    """Everything results.json reports about a complete run (every cell present)."""
    by = {(c["task"], c["agent"], c["seed"]): c for c in cells}
    normed = [t for t in tasks if normalize(t, 0.0) is not None]
    out = {"normalized_tasks": normed, "worlds": {}}
    for world in worlds:
        raw = score_matrices(by, tasks, agents, seeds, world)
        entry = {
            "per_task": per_task(by, tasks, agents, seeds, world, reps, seed),
            "probability_of_improvement": improvement(raw, reps, seed),
        }
        if normed:
            scores = score_matrices(by, normed, agents, seeds, world, normalized=True)
            entry["aggregates"] = aggregates(scores, reps, seed)
            entry["performance_profiles"] = performance_profiles(scores, reps, seed)
        out["worlds"][world] = entry
    out["aggregates"] = out["worlds"][NOMINAL].get("aggregates")
    out["curves"] = curves(by, tasks, agents, seeds, reps, seed)
    out["correlation"] = correlation(by, tasks)
    return out


def _curve_tensor(cells: dict, tasks, agent: str, seeds) -> np.ndarray:
    return np.array(
        [[[np.mean(p["returns"]) for p in cells[(t, agent, s)]["curve"]] for t in tasks] for s in seeds], np.float64
    )


def _of(cells: dict, agent: str) -> list[dict]:
    return [c for (_, a, _), c in cells.items() if a == agent]


def _value(point, ci) -> dict:
    return {"value": float(point), "ci": [float(ci[0]), float(ci[1])]}


def _nanmean(values) -> float:
    v = np.array([np.nan if x is None else x for x in values], np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
