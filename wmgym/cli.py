"""The ``wmgym`` command: ``wmgym tasks | collect | train | video | calibrate | improve | demo | zoo``.

Each command is a thin shell over one library function. Its flags are derived (by tyro) from that
function's signature or from the config dataclass it takes, with their docstrings as help, so every
default is written once, where the library defines it; ``wmgym <command> --help`` shows them all.
Library imports stay inside the commands: ``wmgym --help`` loads neither torch nor MuJoCo.
"""

import argparse
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

# SB3 saves a policy with pickled parts (cloudpickle) and loading unpickles them.
UNTRUSTED_POLICIES = "Loading an SB3 .zip runs code from it (SB3 unpickles it): load only files you trust."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _parser()
        parser.parse_args(argv)  # --help exits 0 here, an unknown command exits 2
        parser.print_help()
        return 2
    name, args = argv[0], argv[1:]
    from wmgym.errors import CheckpointError  # light; every wmgym.errors class is a ValueError too

    try:
        return COMMANDS[name][0](name, args)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, CheckpointError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"wmgym {name}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wmgym",
        description=__doc__.splitlines()[0],
        epilog="`wmgym <command> --help` lists a command's flags, with their defaults.",
    )
    sub = p.add_subparsers(title="commands", metavar="<command>")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary)
    return p


def _cli(name: str, command: Callable[..., int], argv: list[str], note: str = "") -> int:
    """Parse ``argv`` into ``command``'s parameters and call it."""
    import tyro

    description = COMMANDS[name][1] + (f"\n{note}" if note else "")
    return tyro.cli(command, prog=f"wmgym {name}", description=description, args=argv)


def _flat(config_class: type):
    """``config_class`` as a parameter whose fields are flags of their own (``--batch-size``, not
    ``--config.batch-size``) and whose ``ValueError`` (its own checks) reaches `main`: tyro would
    print a nested dataclass's in a box of its own."""
    import tyro

    return Annotated[config_class, tyro.conf.arg(name="")]


def _like(func: Callable, run: Callable[..., int], drop: tuple[str, ...] = (), **overrides) -> Callable[..., int]:
    """``run`` presented to tyro with ``func``'s parameters (less ``drop``) and docstring, so the flags,
    their defaults and help come from ``func``. ``overrides`` maps a parameter to a command-line
    type (``task=str`` where ``func`` also takes an object), or to ``(type, default)``."""
    params = []
    for p in inspect.signature(func, eval_str=True).parameters.values():
        if p.name in drop:
            continue
        typ, default = overrides.get(p.name, p.annotation), p.default
        if isinstance(typ, tuple):
            typ, default = typ
        params.append(p.replace(annotation=typ, default=default))
    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__doc__ = func.__doc__
    return run


def _tasks(name: str, argv: list[str]) -> int:
    def tasks() -> int:
        from wmgym import truth_env_id
        from wmgym.tasks import get_task, list_tasks

        for task in list_tasks():
            spec = get_task(task)
            h, w = spec.image_size
            print(
                f"{task:18s} {spec.gym_id:20s} {truth_env_id(task):32s} {h}x{w}  {spec.camera.mode} camera, "
                f"{spec.episode_length} steps{', terminates' if spec.terminates else ''}"
            )
        return 0

    return _cli(name, tasks, argv)


def _collect(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.data import collect

    def run(out: Path, workers: int, **kwargs) -> int:
        _check_workers(workers)
        result = collect(out=out, workers=workers, **kwargs)
        if result.interrupted:
            return 130
        print(
            f"{result.episodes} episodes in {out} (+{result.new_episodes} now, {result.new_steps} steps, "
            f"{result.new_steps / max(result.seconds, 1e-9):.0f} steps/s)"
        )
        print(f'read it with: minari.MinariDataset("{out / "data"}")')
        return 0

    policy_help = f"random, zero, ou-noise, or an SB3 model .zip (e.g. sac:model.zip). {UNTRUSTED_POLICIES}"
    command = _like(
        collect,
        run,
        drop=("progress", "start_states"),
        task=str,
        out=Path,
        policy=Annotated[str, tyro.conf.arg(help=policy_help)],
        # More processes than cores only add memory; two keep a small machine busy.
        workers=(int, min(2, _cores())),
    )
    return _cli(name, command, argv)


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one: a container's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_workers(workers: int) -> None:
    cores = _cores()
    if workers > cores:
        raise ValueError(
            f"--workers {workers} is more than the {cores} CPU cores here: each worker renders on a core "
            f"of its own and holds about 250 MB, so more only cost memory. Use --workers {cores} or fewer."
        )


def _train(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.train import TrainConfig, train

    def command(
        data: Annotated[tuple[Path, ...], tyro.conf.UseAppendAction], out: Path, config: _flat(TrainConfig)
    ) -> int:
        """Train, or resume training, a world model.

        Args:
            data: dataset folder (``wmgym collect --out``); repeat the flag for several.
            out: run folder: checkpoint/, tensorboard/, config.json. An existing run resumes.
        """
        if not data:
            raise ValueError("say what to train on: --data DIR [--data DIR2 ...]")
        if config.steps is None and config.minutes is None:
            raise ValueError("say how long to train: --steps N or --minutes M")
        train(list(data), out, config)
        print(f"checkpoint: {out / 'checkpoint'}   logs: tensorboard --logdir {out / 'tensorboard'}")
        return 0

    return _cli(name, command, argv)


def _video(name: str, argv: list[str]) -> int:
    def video(data: Path, out: Path, episode: int = 0) -> int:
        """Write one episode of a dataset to mp4.

        Args:
            data: dataset folder.
            out: mp4 file to write.
            episode: which episode of the dataset (0 is the first).
        """
        from wmgym.data import load_episodes
        from wmgym.video import write_mp4

        _, episodes = load_episodes(data)
        if not 0 <= episode < len(episodes):
            raise ValueError(f"--episode must be in 0..{len(episodes) - 1}, got {episode}")
        print(f"wrote {write_mp4(episodes[episode].pixels, out)}")
        return 0

    return _cli(name, video, argv)


def _calibrate(name: str, argv: list[str]) -> int:
    if any(a.startswith("--improve") for a in argv):
        raise ValueError("active calibration is its own command now: wmgym improve --model M --out DIR --rounds N")
    from wmgym.calibrate import CalibrationConfig, calibrate

    def command(model: str, out: Path, config: _flat(CalibrationConfig), task: str | None = None) -> int:
        """Measure a world model against MuJoCo.

        Args:
            model: a zoo name (``wmgym zoo``) or a checkpoint folder.
            out: folder for card.json, report.md, plots and mp4s.
            task: check that the truth env is this task (default: the model's own).
        """
        _print_card(calibrate(model, out, config, task=task), out)
        return 0

    return _cli(name, command, argv, note=f"--policies: {UNTRUSTED_POLICIES}")


def _improve(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.calibrate import CalibrationConfig, improve

    default = {k: p.default for k, p in inspect.signature(improve).parameters.items()}

    def command(
        model: str,
        out: Path,
        rounds: int,
        config: _flat(CalibrationConfig),
        minutes_per_round: float = default["minutes"],
        episodes_per_round: int = default["episodes"],
        lr: float = default["lr"],
        with_: Annotated[tuple[str, ...], tyro.conf.arg(name="with")] = default["train_also"],
    ) -> int:
        """Rounds of active calibration.

        Args:
            model: a zoo name (``wmgym zoo``) or a checkpoint folder to start from.
            out: folder for card.json and report.md (before and after each round), and round<r>/.
            rounds: rounds of: measure, collect MuJoCo episodes where the model errs, fine-tune.
            minutes_per_round: fine-tuning per round.
            episodes_per_round: new MuJoCo episodes per round, half from where the model errs most.
            lr: fine-tuning learning rate.
            with_: datasets to fine-tune on too (the model's own training data: it forgets less).
        """
        card = improve(
            model,
            out,
            rounds,
            config,
            minutes=minutes_per_round,
            episodes=episodes_per_round,
            lr=lr,
            train_also=tuple(with_),
        )
        _print_card(card, out)
        return 0

    return _cli(name, command, argv, note=f"--policies: {UNTRUSTED_POLICIES}")


def _print_card(card: dict, out: Path) -> None:
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
    print(f"card: {out / 'card.json'}\nreport: {out / 'report.md'}")


def _demo(name: str, argv: list[str]) -> int:
    from wmgym.demo import run_demo

    def run(**kwargs) -> int:
        run_demo(**kwargs)
        return 0

    return _cli(name, _like(run_demo, run, out=str), argv)


def _zoo(name: str, argv: list[str]) -> int:
    def zoo() -> int:
        from wmgym.zoo.export import summary

        rows = summary()
        if not rows:
            print("no world model ships yet")
        for row in rows:
            extras = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "task"))
            print(f"{row['name']:18s} task={row['task']:18s} {extras}")
        return 0

    return _cli(name, zoo, argv)


COMMANDS: dict[str, tuple[Callable[[str, list[str]], int], str]] = {
    "tasks": (_tasks, "list the task suite"),
    "collect": (_collect, "collect truth episodes into a Minari dataset (resumes an --out of the same collection)"),
    "train": (_train, "train a world model on Minari datasets (resumes an existing --out)"),
    "video": (_video, "write a dataset episode to mp4"),
    "calibrate": (_calibrate, "measure a world model against MuJoCo: card, report, videos"),
    "improve": (_improve, "active calibration: collect MuJoCo data where a model errs, fine-tune it, measure again"),
    "demo": (_demo, "the main job, end to end, on a shipped model (offline)"),
    "zoo": (_zoo, "list the world models shipped in the package"),
}


if __name__ == "__main__":
    sys.exit(main())
