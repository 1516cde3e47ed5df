"""The ``wmgym`` command: ``wmgym tasks | collect | train | video | calibrate | demo | zoo``.

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

    s = sub.add_parser("train", help="train a world model on Minari datasets (resumes an existing --out)")
    s.add_argument("--data", required=True, type=Path, action="append", help="dataset folder (repeat for several)")
    s.add_argument("--out", required=True, type=Path, help="run folder: checkpoint/, tensorboard/, config.json")
    s.add_argument("--preset", default="small", help="debug | small | base (default: small)")
    s.add_argument("--steps", type=int, help="train until this many gradient steps in total")
    s.add_argument("--minutes", type=float, help="train for this many minutes")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--seq-len", type=int, default=32)
    s.add_argument("--lr", type=float, default=6e-4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    s.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    s.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    s.add_argument("--eval-every", type=int, default=500)
    s.add_argument("--checkpoint-every", type=int, default=250)
    s.set_defaults(run=_train)

    s = sub.add_parser("video", help="write a dataset episode to mp4")
    s.add_argument("--data", required=True, type=Path, help="dataset folder")
    s.add_argument("--episode", type=int, default=0)
    s.add_argument("--out", required=True, type=Path, help="mp4 file to write")
    s.set_defaults(run=_video)

    s = sub.add_parser("calibrate", help="measure a world model against MuJoCo: card, report, videos")
    s.add_argument("--model", required=True, help="a zoo name (`wmgym zoo`) or a checkpoint folder")
    s.add_argument("--out", required=True, type=Path, help="folder for card.json, report.md, plots and mp4s")
    s.add_argument("--episodes", type=int, default=32, help="rendered paired rollouts")
    s.add_argument("--state-episodes", type=int, default=128, help="state-only paired rollouts (mujoco.rollout)")
    s.add_argument("--horizon", type=int, default=50, help="open-loop steps after the context")
    s.add_argument("--context", type=int, default=4, help="real steps the model filters first")
    s.add_argument("--policies", nargs="*", default=[], help="SB3 .zip policies (suffix @NOISE for action noise)")
    s.add_argument("--policy-episodes", type=int, default=8, help="episodes per policy for dream-vs-MuJoCo returns")
    s.add_argument("--policy-steps", type=int, default=None, help="steps per policy episode (default: the task's)")
    s.add_argument("--data", nargs="*", default=[], help="datasets whose episodes are paired too (held-out data)")
    s.add_argument("--task", default=None, help="check the truth env is this task (default: the model's own)")
    s.add_argument("--seed", type=int, default=10_000)
    s.add_argument("--device", default="cpu")
    s.add_argument("--no-videos", action="store_true")
    s.add_argument("--improve", type=int, default=0, metavar="ROUNDS", help="active calibration rounds")
    s.add_argument("--improve-minutes", type=float, default=5.0, help="fine-tuning per round")
    s.add_argument("--improve-episodes", type=int, default=120, help="new MuJoCo episodes per round")
    s.add_argument("--improve-with", nargs="*", default=[], help="datasets to fine-tune on too (the model's own data)")
    s.set_defaults(run=_calibrate)

    s = sub.add_parser("demo", help="the main job, end to end, on a shipped model (offline)")
    s.add_argument("--task", default="reacher", help="a shipped model (see `wmgym zoo`)")
    s.add_argument("--ppo-steps", type=int, default=300_000, help="PPO training steps in the dream")
    s.add_argument("--n-envs", type=int, default=64, help="batched dream envs for PPO")
    s.add_argument("--eval-episodes", type=int, default=20)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, default=Path("wmgym-demo"))
    s.set_defaults(run=_demo)

    s = sub.add_parser("zoo", help="list the world models shipped in the package")
    s.set_defaults(run=_zoo)
    return p


def _tasks(args) -> int:
    from wmgym import truth_env_id
    from wmgym.tasks import get_task, list_tasks

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


def _train(args) -> int:
    from wmgym.train import TrainConfig, train

    if args.steps is None and args.minutes is None:
        raise ValueError("say how long to train: --steps N or --minutes M")
    config = TrainConfig(
        preset=args.preset,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lr=args.lr,
        steps=args.steps,
        minutes=args.minutes,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
    )
    train([str(d) for d in args.data], args.out, config)
    print(f"checkpoint: {args.out / 'checkpoint'}   logs: tensorboard --logdir {args.out / 'tensorboard'}")
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


def _calibrate(args) -> int:
    from wmgym.calibrate import CalibrationConfig, calibrate, improve

    cfg = CalibrationConfig(
        episodes=args.episodes,
        state_episodes=args.state_episodes,
        horizon=args.horizon,
        context=args.context,
        policies=tuple(args.policies),
        policy_episodes=args.policy_episodes,
        policy_steps=args.policy_steps,
        data=tuple(args.data),
        seed=args.seed,
        device=args.device,
        videos=not args.no_videos,
    )
    if args.improve:
        card = improve(
            args.model,
            args.out,
            args.improve,
            cfg,
            minutes=args.improve_minutes,
            episodes=args.improve_episodes,
            train_also=tuple(args.improve_with),
        )
    else:
        card = calibrate(args.model, args.out, cfg, task=args.task)
    th = card["trust_horizon"]
    print(f"trust horizon: {th['steps']} of {th['of']} steps, limited by {th['limited_by']}")
    for name, c in th["criteria"].items():
        print(f"  {name:28s} {c['horizon']:3d} steps (tolerance {c['threshold']} {c['unit']})")
    ret = card.get("returns") or {}
    if "spearman" in ret:
        print(
            f"returns dream vs MuJoCo across {ret['policies']} policies: Spearman {ret['spearman']:.2f}, Pearson {ret['pearson']:.2f}"
        )
    u = card["uncertainty"]
    print(
        f"uncertainty vs error: Spearman {u['spearman_pooled']:.2f} (within horizon {u['spearman_within_horizon']:.2f})"
    )
    print(f"card: {args.out / 'card.json'}\nreport: {args.out / 'report.md'}")
    return 0


def _demo(args) -> int:
    from wmgym.demo import run_demo

    run_demo(
        args.task,
        args.out,
        ppo_steps=args.ppo_steps,
        n_envs=args.n_envs,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
    )
    return 0


def _zoo(args) -> int:
    from wmgym.zoo.export import summary

    rows = summary()
    if not rows:
        print("no world model ships yet")
    for row in rows:
        extras = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "task"))
        print(f"{row['name']:18s} task={row['task']:18s} {extras}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
