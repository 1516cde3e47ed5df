"""Train an SB3 SAC policy on a task's MuJoCo state observations (no rendering) and save it.

Used to make behaviour policies that reach the goal, so datasets contain goal-reaching states
(see docs/data.md). The policy runs unchanged on `gymnasium.make(spec.gym_id)`, and
`wmgym collect --policy sac:OUT.zip --noise 0.2` collects with it.

Run:  python agents/sac_truth.py --task reacher --steps 30000 --out runs/sac-reacher.zip \
          [--checkpoints 1000 3000 10000]

With --checkpoints, the partially trained policies are saved too (OUT_<steps>.zip): calibration
compares dream and MuJoCo returns across policies of graded skill.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy

from wmgym.truth import TruthEnv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reacher")
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoints", type=int, nargs="*", default=[], help="also save the policy after these steps")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    env = TruthEnv(args.task, obs_mode="state")
    model = SAC("MlpPolicy", env, seed=args.seed, verbose=0, policy_kwargs={"net_arch": [128, 128]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = 0
    for stop in sorted(c for c in args.checkpoints if c < args.steps):
        model.learn(stop - done, progress_bar=False, reset_num_timesteps=False)
        done = stop
        model.save(args.out.with_name(f"{args.out.stem}_{stop}.zip"))
    model.learn(args.steps - done, progress_bar=False, reset_num_timesteps=False)
    mean, std = evaluate_policy(model, TruthEnv(args.task, obs_mode="state"), n_eval_episodes=20)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    rand = np.mean([_random_return(args.task, s) for s in range(20)])
    print(f"{args.task}: SAC {args.steps} steps, return {mean:.2f} +- {std:.2f} (random {rand:.2f}); saved {args.out}")


def _random_return(task: str, seed: int) -> float:
    env = TruthEnv(task, obs_mode="state")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    total, done = 0.0, False
    while not done:
        _, r, term, trunc, _ = env.step(env.action_space.sample())
        total, done = total + r, term or trunc
    return total


if __name__ == "__main__":
    main()
