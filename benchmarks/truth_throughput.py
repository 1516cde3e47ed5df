"""Steps/s of every truth env with rendering: single process, with worker processes, and the cost
of the renderer settings (shadows and reflections) each task's spec turns off.

Run:  python benchmarks/truth_throughput.py [--seconds 3] [--workers 2]
Writes benchmarks/results/truth_throughput.{json,md} with the command that produced them.

Configurations, for each task (64x64 frames, uniform random actions):
- state only:        TruthEnv(obs_mode="state"), no rendering: the physics alone.
- rendered, 1 proc:  TruthEnv with pixels, as the spec renders them.
- shadows+refl.:     the same with shadows and reflections on (what the spec turns off).
- collect, N procs:  `wmgym.data.collection` end to end (render, policy, lossless Minari writes) with
                     1 and N worker processes: what `wmgym collect` achieves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from wmgym.data import collect  # noqa: E402
from wmgym.tasks import get_task, list_tasks  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402


def env_steps_per_s(spec, seconds: float, obs_mode=None) -> float:
    env = TruthEnv(spec, obs_mode=obs_mode)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # warm up the renderer
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
        n += 1
        if term or trunc:
            env.reset()
    rate = n / (time.perf_counter() - start)
    env.close()
    return rate


def collect_steps_per_s(task: str, workers: int, seconds: float) -> float:
    """Run collections of growing size until one lasts ``seconds``; steps/s of that one."""
    episodes = 4 * workers
    while True:
        with tempfile.TemporaryDirectory() as tmp:
            result = collect(task, episodes, Path(tmp) / "d", policy="random", workers=workers, progress=False)
        if result.seconds >= seconds:
            return result.new_steps / result.seconds
        episodes = int(episodes * max(2.0, 1.2 * seconds / max(result.seconds, 1e-3)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", nargs="*", default=list_tasks())
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()

    rows = []
    for task in args.tasks:
        spec = get_task(task)
        shiny = spec.replace(render=spec.render.__class__(True, True, spec.render.visual_geom_radius))
        row = {
            "task": task,
            "state_only": env_steps_per_s(spec, args.seconds, obs_mode="state"),
            "rendered_1proc": env_steps_per_s(spec, args.seconds),
            "rendered_shadows_reflections": env_steps_per_s(shiny, args.seconds),
            "collect_1proc": collect_steps_per_s(task, 1, args.seconds),
            f"collect_{args.workers}proc": collect_steps_per_s(task, args.workers, args.seconds),
        }
        rows.append(row)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)

    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    meta = {
        "command": command,
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, MUJOCO_GL={os.environ['MUJOCO_GL']}",
        "date": time.strftime("%Y-%m-%d"),
        "unit": "agent steps per second, 64x64 frames",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "truth_throughput.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    cols = [
        "state_only",
        "rendered_1proc",
        "rendered_shadows_reflections",
        "collect_1proc",
        f"collect_{args.workers}proc",
    ]
    lines = [
        "# Truth env throughput",
        "",
        f"Command: `{command}`  ",
        f"Machine: {meta['machine']}; {meta['date']}. Unit: {meta['unit']}.",
        "",
        "| task | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    lines += [f"| {r['task']} | " + " | ".join(f"{r[c]:.0f}" for c in cols) + " |" for r in rows]
    (args.out / "truth_throughput.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'truth_throughput.md'}")


if __name__ == "__main__":
    main()
