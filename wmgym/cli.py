"""The ``wmgym`` command: ``wmgym tasks | collect | video | demo``.

Each subcommand is a thin shell over a library function; run ``wmgym <command> --help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (KeyError, ValueError, FileNotFoundError, FileExistsError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"wmgym {args.command}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wmgym", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("tasks", help="list the task suite")
    s.set_defaults(run=_tasks)

    s = sub.add_parser("collect", help="collect truth episodes into a Minari dataset")
    s.add_argument("--task", required=True, help="task name (see `wmgym tasks`)")
    s.add_argument("--episodes", type=int, required=True, help="episodes the dataset should hold in total")
    s.add_argument("--out", required=True, type=Path, help="dataset folder (resumed if it holds the same collection)")
    s.add_argument("--policy", default="random", help="random | ou-noise | path to an SB3 model .zip (default: random)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    s.add_argument("--noise", type=float, default=0.0, help="Gaussian action noise for SB3 policies")
    s.set_defaults(run=_collect)

    s = sub.add_parser("video", help="write a dataset episode to mp4")
    s.add_argument("--data", required=True, type=Path, help="dataset folder")
    s.add_argument("--episode", type=int, default=0)
    s.add_argument("--out", required=True, type=Path, help="mp4 file to write")
    s.set_defaults(run=_video)

    s = sub.add_parser("demo", help="the main job, end to end, on this machine")
    s.add_argument("--task", default="reacher")
    s.add_argument("--episodes", type=int, default=8)
    s.add_argument("--out", type=Path, default=Path("wmgym-demo"))
    s.set_defaults(run=_demo)
    return p


def _tasks(args) -> int:
    from wmgym import truth_env_id
    from wmgym.truth import get_task, list_tasks

    for name in list_tasks():
        spec = get_task(name)
        h, w = spec.image_size
        print(
            f"{name:18s} {spec.gym_id:20s} {truth_env_id(name):32s} {h}x{w}  {spec.camera.mode} camera, "
            f"{spec.episode_length} steps{', terminates' if spec.terminates else ''}"
        )
    return 0


def _collect(args) -> int:
    from wmgym.data import collect

    result = collect(
        args.task, args.episodes, args.out, policy=args.policy, seed=args.seed, workers=args.workers, noise=args.noise
    )
    if result.interrupted:
        return 130
    print(
        f"{result.episodes} episodes in {args.out} (+{result.new_episodes} now, {result.new_steps} steps, "
        f"{result.new_steps / max(result.seconds, 1e-9):.0f} steps/s)"
    )
    print(f'read it with: minari.MinariDataset("{args.out / "data"}")')
    return 0


def _video(args) -> int:
    from wmgym.data import load_episodes
    from wmgym.video import write_mp4

    spec, episodes = load_episodes(args.data)
    if not 0 <= args.episode < len(episodes):
        raise ValueError(f"--episode must be in 0..{len(episodes) - 1}, got {args.episode}")
    path = write_mp4(episodes[args.episode].pixels, args.out)
    print(f"wrote {path}")
    return 0


def _demo(args) -> int:
    from wmgym.demo import run_demo

    run_demo(args.task, args.episodes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
