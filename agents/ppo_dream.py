"""PPO (stable-baselines3) trained only in a task's dream, then scored in MuJoCo and in the dream.

Run:  python agents/ppo_dream.py --task reacher --budget 60000 --seed 0
      python agents/ppo_dream.py --help          (every flag, PPO's settings included)

The same agent is ``ppo`` in ``wmgym bench`` (docs/benchmarks.md); this file runs one cell of it by
hand. TensorBoard: ``tensorboard --logdir runs/agents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import tyro

from wmgym.bench.agents import PPOConfig, ppo
from wmgym.bench.cell import dream_returns, truth_returns
from wmgym.bench.dream import Dream
from wmgym.tasks import get_task


@dataclass
class Args:
    task: str = "reacher"
    """A task with a world model in the zoo (`wmgym zoo`)."""
    model: str | None = None
    """A checkpoint or run folder to use instead of the zoo's model."""
    budget: int = 60_000
    """Dream steps to train for."""
    seed: int = 0
    eval_episodes: int = 10
    """MuJoCo episodes to score on (reset seeds 1000..)."""
    logdir: str = "runs/agents/ppo_dream"
    ppo: PPOConfig = field(default_factory=PPOConfig)


def main(args: Args) -> None:
    torch.set_num_threads(1)
    dream = Dream(args.model or args.task, args.budget)
    policy = ppo(dream, args.budget, args.seed, logdir=args.logdir, config=args.ppo)
    mujoco = truth_returns(args.task, "nominal", policy, args.eval_episodes)
    imagined = dream_returns(dream, policy, args.eval_episodes)
    print(f"{args.task}: PPO, {dream.steps} dream steps, seed {args.seed}")
    print(
        f"  MuJoCo return {np.mean(mujoco):.2f} +- {np.std(mujoco):.2f}; the dream's estimate {np.mean(imagined):.2f}"
    )
    ref = get_task(args.task).reference
    if ref is not None:
        print(f"  normalized (random 0, reference 1): {ref.normalize(float(np.mean(mujoco))):.2f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
