"""One cell of a benchmark: train an agent in a task's dream, score it in MuJoCo and in the dream.

`run_cell` is what a worker process or a Ray task runs. It returns everything the cell produced,
its TensorBoard files included (as bytes), and writes nothing outside a temporary folder, so a cell
can run on another machine and only the driver writes the run folder.
"""

from __future__ import annotations

import inspect
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from wmgym.bench.agents import call_agent, resolve_agent
from wmgym.bench.config import EVAL_SEED, NOMINAL
from wmgym.bench.dream import Dream
from wmgym.episode import run_episode
from wmgym.policies import as_policy, clone_policy


@dataclass(frozen=True)
class Cell:
    """What one cell runs: an agent, a task (through its world model), a training seed, and the
    settings every cell of a run shares."""

    task: str
    agent: str
    seed: int
    model: str
    budget: int
    eval_episodes: int
    curve_targets: tuple[int, ...]
    curve_episodes: int
    worlds: tuple[str, ...]

    @property
    def id(self) -> str:
        """File-safe name: ``reacher__ppo__seed0`` (``module:function`` agents as ``module-function``)."""
        agent = "".join(c if c.isalnum() or c in "._" else "-" for c in self.agent)
        return f"{self.task}__{agent}__seed{self.seed}"


def run_cell(cell: Cell, report: Callable[[int], None] | None = None) -> dict:
    """Train ``cell.agent`` in the dream within the budget, then score its policy.

    Returns a dict: the cell's fields; ``returns`` {world: MuJoCo return per evaluation episode};
    ``dream_returns``, the dream's own returns of the same policy from its own starts (seeds
    1000 + i); ``curve``, the MuJoCo score at each point of the sample-efficiency curve;
    ``dream_steps`` spent; ``timing``; and ``tensorboard`` {relative path: bytes}.
    """
    torch.set_num_threads(1)  # one cell per core; small batches run fastest on one thread anyway
    _seed_everything(cell.seed)
    start = time.perf_counter()
    logdir = Path(tempfile.mkdtemp(prefix="wmgym-bench-"))
    try:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(logdir / "bench"))
        dream = Dream(cell.model, cell.budget, report, lambda s, r: writer.add_scalar("dream/episode_return", r, s))
        curve = _Curve(cell, dream, writer)
        agent = resolve_agent(cell.agent)
        policy = call_agent(agent, dream, cell.budget, cell.seed, curve, str(logdir / "agent"))
        trained = time.perf_counter() - start
        result = _score(cell, policy, dream, curve)
        writer.add_scalar("eval/mujoco_return", float(np.mean(result["returns"][NOMINAL])), dream.steps)
        writer.add_scalar("eval/dream_return", float(np.mean(result["dream_returns"])), dream.steps)
        writer.close()
        result["timing"] = {"train_s": round(trained, 1), "total_s": round(time.perf_counter() - start, 1)}
        result["tensorboard"] = {str(p.relative_to(logdir)): p.read_bytes() for p in logdir.rglob("*") if p.is_file()}
        return result
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def _score(cell: Cell, policy, dream: Dream, curve: _Curve) -> dict:
    returns = {w: truth_returns(cell.task, w, policy, cell.eval_episodes) for w in cell.worlds}
    curve.finish(dream.steps, returns[NOMINAL])
    return {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cell).items()},
        "id": cell.id,
        "dream_steps": dream.steps,
        "returns": returns,
        "dream_returns": dream_returns(dream, policy, cell.eval_episodes),
        "curve": curve.points,
    }


class _Curve:
    """The agent's ``checkpoint``: scores the policy in MuJoCo once training crosses each curve point."""

    def __init__(self, cell: Cell, dream: Dream, writer):
        self.cell, self.dream, self.writer = cell, dream, writer
        self.points: list[dict] = [{"target": t, "steps": None, "returns": None} for t in cell.curve_targets]

    def __call__(self, policy) -> None:
        for point in self.points[:-1]:  # the last point is the final evaluation
            if point["steps"] is None and self.dream.steps >= point["target"]:
                with torch.random.fork_rng():
                    point["returns"] = truth_returns(self.cell.task, NOMINAL, policy, self.cell.curve_episodes)
                point["steps"] = self.dream.steps
                self.writer.add_scalar("eval/curve_mujoco_return", float(np.mean(point["returns"])), point["steps"])

    def finish(self, steps: int, returns: list[float]) -> None:
        self.points[-1].update(steps=steps, returns=list(returns))


def truth_returns(task: str, world: str, policy, episodes: int) -> list[float]:
    """MuJoCo returns of ``policy`` over the fixed evaluation starts (reset seeds 1000 + i)."""
    env = truth_env(task, world)
    try:
        return [run_episode(env, policy, EVAL_SEED + i).total_reward for i in range(episodes)]
    finally:
        env.close()


def truth_env(task: str, world: str = NOMINAL):
    """The state-observation MuJoCo env of ``task`` in ``world`` (``nominal`` or a perturbation's name)."""
    from wmgym.truth import TruthEnv

    if world == NOMINAL:
        return TruthEnv(task, obs_mode="state")
    if "perturbation" not in inspect.signature(TruthEnv).parameters:
        raise ValueError(
            f"world {world!r}: this wmgym's TruthEnv has no perturbations yet (TruthEnv(..., perturbation=NAME)); "
            f"score in {NOMINAL!r} only"
        )
    return TruthEnv(task, obs_mode="state", perturbation=world)


@torch.no_grad()
def dream_returns(dream: Dream, policy, episodes: int) -> list[float]:
    """The dream's own return of ``policy``: one episode in each of ``episodes`` batched envs, env ``i``
    seeded 1000 + i (unmetered: scoring is not training)."""
    from wmgym.dream.vector_env import DreamVectorEnv

    env = DreamVectorEnv(*dream.world_model(), num_envs=episodes, obs_mode="state", autoreset=False)
    policies = clone_policy(as_policy(policy), episodes)
    for i, p in enumerate(policies):
        p.reset(np.random.default_rng(EVAL_SEED + i))
    obs, _ = env.reset(seed=EVAL_SEED)
    total, live = np.zeros(episodes), np.ones(episodes, bool)
    while live.any():
        actions = np.stack([np.asarray(p(o), np.float32) for p, o in zip(policies, obs, strict=True)])
        obs, reward, terminated, truncated, _ = env.step(actions)
        total += np.where(live, reward, 0.0)
        live &= ~(np.asarray(terminated) | np.asarray(truncated))
    return [float(r) for r in total]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
