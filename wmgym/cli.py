"""The ``wmgym`` command: ``wmgym tasks | collect | import-lerobot | import-minari | train | video | calibrate | ...``.

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
            gym_id, truth = (spec.gym_id, truth_env_id(task)) if spec.has_truth else ("(own data)", "-")
            print(
                f"{task:18s} {gym_id:20s} {truth:32s} {h}x{w}  {spec.camera.mode} camera, "
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


def _import_lerobot(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.data.lerobot import import_lerobot

    def run(path: Path, out: Path, task_name: str, **kwargs) -> int:
        r = import_lerobot(path, out, task_name, **kwargs)
        reward = f"reward {r.reward_key}" if r.reward_key else "no reward recorded (zeros)"
        state = ", ".join(r.state_keys) or "no proprioception"
        print(f"{r.episodes} episodes, {r.frames} frames of LeRobot {r.version} (camera {r.camera}; {state}; {reward})")
        _print_own_next(out, task_name, bool(r.state_keys))
        return 0

    command = _like(import_lerobot, run, drop=("progress",), path=Annotated[Path, tyro.conf.Positional], out=Path)
    return _cli(name, command, argv)


def _import_minari(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.data.from_minari import import_minari

    def run(source: str, out: Path, task_name: str, **kwargs) -> int:
        r = import_minari(source, out, task_name, **kwargs)
        state = ", ".join(r.state_keys) or "no proprioception"
        print(f"{r.episodes} episodes, {r.frames} frames of Minari {r.dataset_id} (camera {r.pixels_key}; {state})")
        _print_own_next(out, task_name, bool(r.state_keys))
        return 0

    command = _like(import_minari, run, drop=("progress",), source=Annotated[str, tyro.conf.Positional], out=Path)
    return _cli(name, command, argv)


def _print_own_next(out: Path, task_name: str, proprio: bool) -> None:
    print(f"dataset: {out}  (task {task_name!r}: no MuJoCo env, so no `wmgym calibrate`; see docs/own_data.md)")
    print(
        f"train:   wmgym train --data {out} --out runs/{task_name} --preset ensemble-small --proprio-only --minutes 30"
    )
    if not proprio:
        print("dream:   wmgym.DreamEnv(checkpoint, obs_mode='pixels')  (no state vector to observe)")


def _video(name: str, argv: list[str]) -> int:
    from wmgym.video import FPS

    def video(data: Path, out: Path, episode: int = 0, fps: int = FPS) -> int:
        """Write one episode of a dataset to mp4, with a step counter.

        Args:
            data: dataset folder.
            out: mp4 file to write.
            episode: which episode of the dataset (0 is the first).
            fps: frames per second of the video (the demo's and calibration's videos play at the default).
        """
        from wmgym.data import load_episodes
        from wmgym.video import write_mp4

        _, episodes = load_episodes(data)
        if not 0 <= episode < len(episodes):
            raise ValueError(f"--episode must be in 0..{len(episodes) - 1}, got {episode}")
        pixels = episodes[episode].pixels
        if pixels is None:
            raise ValueError(f"{data} is a state-only dataset (collected with --no-pixels): it has no frames to show")
        captions = [f"episode {episode}, step {t}" for t in range(len(pixels))]
        print(f"wrote {write_mp4(pixels, out, fps=fps, captions=captions)}")
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
    from wmgym.metrics import describe_limit

    th = card["trust_horizon"]
    print(f"trust horizon: {th['steps']} of {th['of']} steps, {describe_limit(th['limited_by'])}")
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


def _bench(name: str, argv: list[str]) -> int:
    from wmgym.bench.config import BenchConfig

    def command(out: Path, config: _flat(BenchConfig)) -> int:
        """Train agents in the dream, score them in MuJoCo, report with rliable (resumes an existing --out).

        Args:
            out: run folder: cells/, tensorboard/, results.json, report.md, PNGs. An earlier run resumes.
        """
        from wmgym.bench.runner import run_bench

        try:
            results = run_bench(out, config)
        except KeyboardInterrupt:
            return 130
        if results["missing"]:
            print(f"{len(results['missing'])} cells did not finish; run the same command again to retry them")
            return 1
        tasks = ", ".join(results.get("normalized_tasks", []))
        for agent, m in (results.get("aggregates") or {}).items():
            lo, hi = m["iqm"]["ci"]
            print(f"{agent:12s} IQM {m['iqm']['value']:.2f} [{lo:.2f}, {hi:.2f}] of normalized scores on {tasks}")
        print(f"results: {out / 'results.json'}\nreport: {out / 'report.md'}")
        return 0

    return _cli(name, command, argv)


def _perturbations(name: str, argv: list[str]) -> int:
    def perturbations(task: str | None = None) -> int:
        """List the "real robot" variants of each task: gym.make(TRUTH_ID, perturbation=NAME), or the id shown.

        Args:
            task: only this task's variants (default: every task that has named ones).
        """
        from wmgym.ids import perturbed_truth_env_id
        from wmgym.tasks import get_task
        from wmgym.truth.variants import LEVELS, get_perturbation, list_perturbations, tasks_with_variants

        for t in [get_task(task).name] if task else tasks_with_variants():  # an unknown task fails first
            print(f"{t}:")
            for p in (p for p in list_perturbations(t) if p not in LEVELS):
                print(f"  {p:16s} {perturbed_truth_env_id(t, p)}\n  {'':16s} {get_perturbation(t, p).description}")
            levels = ", ".join(perturbed_truth_env_id(t, p) for p in LEVELS)
            print(f"  {'/'.join(LEVELS):16s} realworldrl_suite's combined challenges: {levels}")
        return 0

    return _cli(name, perturbations, argv)


def _adapt(name: str, argv: list[str]) -> int:
    import tyro

    from wmgym.gap import AdaptConfig

    def command(
        model: str,
        data: Annotated[tuple[Path, ...], tyro.conf.UseAppendAction],
        out: Path,
        config: _flat(AdaptConfig),
    ) -> int:
        """Fine-tune a world model on a few episodes of a perturbed robot, then calibrate it against that robot.

        Args:
            model: a zoo name, checkpoint or run folder: the nominal world model.
            data: a dataset of the robot (wmgym collect --perturbation NAME --episodes 20); repeat for several.
            out: folder for run/ (the adapted model), calibration/, calibration-before/, adapt.json.
        """
        from wmgym.gap import adapt

        summary = adapt(model, list(data), out, config)
        print(f"adapted on {summary['episodes_used']} episodes: {summary['adapted']}")
        for label, c in (summary.get("calibration") or {}).items():
            print(f"  trust horizon {label:6s} against the robot: {c['trust_horizon']} steps ({c['card']})")
        print(f"dream: gym.make('<task id>', model='{summary['adapted']}')   summary: {out / 'adapt.json'}")
        return 0

    return _cli(name, command, argv)


def _gap(name: str, argv: list[str]) -> int:
    from wmgym.gap import GapConfig

    def command(model: str, out: Path, config: _flat(GapConfig)) -> int:
        """The sim-to-real gap report: policies x worlds (MuJoCo, perturbed robots, dreams), ranking metrics.

        Args:
            model: a zoo name or checkpoint folder: the nominal world model.
            out: folder for gap.json, report.md, heatmap.png (and trained policies, adapted models).
        """
        from wmgym.gap import gap

        report = gap(model, out, config)
        for k in report["ranking"]:
            if k["mujoco"] != "mujoco":
                print(f"{k['dream']:28s} vs {k['mujoco']:28s} Pearson {k['pearson']:.2f}  MMRV {k['mmrv']:.3f}")
        if report["missing"]:
            print(f"not compared (give them or pass --train): {', '.join(report['missing'])}")
        print(f"report: {out / 'report.md'}   heatmap: {out / 'heatmap.png'}")
        return 0

    return _cli(name, command, argv, note=f"--policies: {UNTRUSTED_POLICIES}")


def _join(name: str, argv: list[str]) -> int:
    from wmgym.train.parts import take_parts

    def run(out: Path, source: Path, parts: tuple[str, ...] = ("renderer",)) -> int:
        record = take_parts(out, source, parts)
        print(f"{out}: {', '.join(record['parts'])} now from {source} (its step {record['source_step']})")
        if "folded" in record:
            print(f"  trained on other data: folded {record['folded']}")
        return 0

    return _cli(name, _like(take_parts, run, out=Path, source=Path, parts=(tuple[str, ...], ("renderer",))), argv)


def _zoo(name: str, argv: list[str]) -> int:
    def zoo() -> int:
        from wmgym.zoo.export import summary

        rows = summary()
        if not rows:
            print("no world model ships yet")
        for row in rows:
            extras = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "task", "trust_horizon"))
            print(f"{row['name']:18s} task={row['task']:18s} {extras}")
            if "trust_horizon" in row:
                print(f"{'':18s} {row['trust_horizon']}")
        return 0

    return _cli(name, zoo, argv)


COMMANDS: dict[str, tuple[Callable[[str, list[str]], int], str]] = {
    "tasks": (_tasks, "list the task suite"),
    "collect": (_collect, "collect truth episodes into a Minari dataset (resumes an --out of the same collection)"),
    "train": (_train, "train a world model on Minari datasets (resumes an existing --out)"),
    "import-lerobot": (_import_lerobot, "convert a LeRobot dataset folder (v2.x, v3.0) into a dataset to train on"),
    "import-minari": (_import_minari, "convert a Minari dataset with camera frames into a dataset to train on"),
    "video": (_video, "write a dataset episode to mp4"),
    "join": (_join, "give a training run parts of another finished run (a renderer trained apart)"),
    "calibrate": (_calibrate, "measure a world model against MuJoCo: card, report, videos"),
    "improve": (_improve, "active calibration: collect MuJoCo data where a model errs, fine-tune it, measure again"),
    "demo": (_demo, "the main job, end to end, on a shipped model (offline)"),
    "bench": (_bench, "benchmark suite: agents trained in dreams, scored in MuJoCo, rliable statistics"),
    "zoo": (_zoo, "list the world models shipped in the package"),
    "perturbations": (_perturbations, 'list the "real robot" variants of each task (perturbed MuJoCo)'),
    "adapt": (_adapt, "fine-tune a world model on a few episodes of a perturbed robot, then calibrate it there"),
    "gap": (_gap, "sim-to-real gap report: policies x worlds (MuJoCo, perturbed robots, dreams), ranking metrics"),
}


if __name__ == "__main__":
    sys.exit(main())
