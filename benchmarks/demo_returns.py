"""Record what `wmgym demo` reaches: PPO trained only in the dream, scored in MuJoCo, next to a random
and a do-nothing policy and the dream's own estimate, for a few seeds.

Run:  python benchmarks/demo_returns.py --task reacher --seeds 0 1 2 [--ppo-steps 300000]
Writes benchmarks/results/demo_<task>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from wmgym.demo import run_demo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reacher")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ppo-steps", type=int, default=1_000_000)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_demo(args.task, tmp, ppo_steps=args.ppo_steps, eval_episodes=args.eval_episodes, seed=seed))
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    out = {"command": command, "date": time.strftime("%Y-%m-%d"), "runs": runs}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"demo_{args.task}.json").write_text(json.dumps(out, indent=2) + "\n")
    keys = list(runs[0]["returns"])
    lines = [
        f"# `wmgym demo` on {args.task}: returns in MuJoCo of PPO trained only in the dream",
        "",
        f"Command: `{command}`  ",
        f"{args.ppo_steps} PPO steps in 64 dream envs; {args.eval_episodes} "
        "evaluation episodes per policy (reset seeds seed+1000..); mean +- std over episodes.",
        "",
        "| seed | " + " | ".join(keys) + " | seconds |",
        "|---|" + "---:|" * (len(keys) + 1),
    ]
    for r in runs:
        cells = [f"{r['returns'][k]['mean']:.2f} +- {r['returns'][k]['std']:.2f}" for k in keys]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    if "normalized" in runs[0]:
        scores = [r["normalized"]["ppo_in_mujoco"] for r in runs]
        ref = runs[0]["reference"]
        lines += [
            "",
            f"PPO's normalized score in MuJoCo (random {ref['random']:.2f} = 0, expert {ref['expert']:.2f} = 1): "
            + ", ".join(f"{x:.2f}" for x in scores)
            + f" over seeds {', '.join(str(r['seed']) for r in runs)}; mean {sum(scores) / len(scores):.2f}, "
            f"min {min(scores):.2f}. The expert: {ref['how']}.",
        ]
    (args.results / f"demo_{args.task}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
