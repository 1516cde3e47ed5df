"""Collect episodes from a truth env into a Minari dataset, in parallel, resumably.

Episode ``i`` of a collection is fully determined by ``(seed, i)``: its reset seed and its
policy's random generator derive from them. So the data is the same whatever the number of
workers, and a resumed collection equals one that was never interrupted.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import json
import multiprocessing as mp
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wmgym.data import store
from wmgym.episode import run_episode
from wmgym.policies import make_policy, parse_policy, policy_identity
from wmgym.tasks.spec import TaskSpec
from wmgym.tasks.suite import get_task
from wmgym.truth.env import TruthEnv


@dataclass(frozen=True)
class CollectResult:
    out: Path
    episodes: int
    """Finished episodes in the dataset now."""
    new_episodes: int
    """Episodes this call added."""
    new_steps: int
    seconds: float
    interrupted: bool = False


def episode_seed(seed: int, index: int) -> int:
    """The reset seed of episode ``index`` of a collection seeded ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def collect(
    task: str | TaskSpec,
    episodes: int,
    out: str | Path,
    policy: str = "random",
    seed: int = 0,
    workers: int = 1,
    noise: float | None = None,
    progress: bool = True,
    start_states: np.ndarray | None = None,
    perturbation: str | None = None,
    pixels: bool = True,
) -> CollectResult:
    """Collect ``episodes`` episodes of ``task`` with ``policy`` into the dataset folder ``out``.

    If ``out`` already holds a collection with the same task, policy, seed and noise, collection
    resumes after its last finished episode. Anything else already in ``out`` is refused with
    `store.DatasetExistsError`; nothing is ever overwritten.

    Args:
        task: a task name (``wmgym tasks``) or a `TaskSpec`.
        episodes: total number of episodes the dataset should hold.
        out: dataset folder; ``minari.MinariDataset(out/"data")`` reads the result.
        policy: ``random``, ``zero``, ``ou-noise`` or a stable-baselines3 ``.zip`` (``algo:`` prefix and
            ``@NOISE`` suffix allowed; see `wmgym.policies`). Loading a ``.zip`` runs code from it (SB3
            unpickles it): load only files you trust.
        seed: collection seed.
        workers: worker processes (each renders its own episodes). They are spawned, so a script that
            calls ``collect`` with ``workers > 1`` must do so under ``if __name__ == "__main__":``
            (a RuntimeError says so at once otherwise).
        noise: Gaussian action noise for SB3 policies and ``zero``, in half action ranges (default: the policy's
            ``@NOISE`` suffix, else 0).
        progress: show a progress bar.
        start_states: (M, n) physics states (``TruthEnv.get_physics_state()``) to start episodes
            from instead of the env's own reset: episode i starts from ``start_states[i % M]``.
            Used by active calibration to collect where a model errs.
        perturbation: collect from this "real robot" instead of nominal MuJoCo: a variant of the task
            (``wmgym perturbations``), a .json spec or a `wmgym.truth.perturb.Perturbation`. The dataset
            records it (``wmgym.json``: ``perturbation``), and a resumed collection must repeat it.
        pixels: render the frames. False: a state-only dataset, unrendered (MuJoCo alone; pusher, 2 workers:
            750-1,500 steps/s against 210 rendered, bounded by writing each episode), what a full-state
            model's dynamics train on (`TrainConfig.train_only`), never its renderer.
    """
    spec = get_task(task)
    spec.require_truth("cannot collect episodes")  # recorded data: no MuJoCo env to run
    out = Path(out).absolute()  # minari's size bookkeeping breaks on relative paths
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if workers > 1:
        _check_workers_can_start(workers)
    if workers > len(os.sched_getaffinity(0)):
        warnings.warn(
            f"{workers} workers on {len(os.sched_getaffinity(0))} usable CPU cores: each renders in its own "
            "process (~250 MB); more workers than cores only adds memory and switching",
            stacklevel=2,
        )
    obs_mode = None if pixels else ("state",)
    env = TruthEnv(
        spec, obs_mode, perturbation=perturbation
    )  # a bad perturbation fails here, before anything is written
    robot = env.perturbation
    noise = parse_policy(policy)[1] if noise is None else noise
    policy = parse_policy(policy)[0]
    make_policy(policy, env, noise)  # fail on a bad policy before anything is written
    if start_states is not None:
        start_states = np.asarray(start_states, np.float64)
        if start_states.ndim != 2 or len(start_states) == 0:
            raise ValueError(f"start_states must be (M, n) physics states, got shape {start_states.shape}")
        env.reset(options={"physics_state": start_states[0]})  # checks the state's size for this task
    record = _record(spec, policy, seed, noise, out, start_states, robot, pixels)
    storage, done = _open(out, record, env)
    env.close()
    todo = range(done, episodes)
    if progress and done:
        print(f"resuming {out}: {done} of {episodes} episodes already collected", file=sys.stderr)
    start, steps, added = time.perf_counter(), 0, 0
    bar = tqdm(
        total=episodes,
        initial=done,
        unit="ep",
        disable=not progress or not todo,
        desc=f"collect {spec.name}",
        mininterval=1.0,
    )
    interrupted = False
    with _signals_as_interrupt() as signals:
        try:
            for index, ep in _episodes(spec, policy, seed, noise, todo, workers, start_states, robot, obs_mode):
                with signals.deferred():  # an episode is written whole, with its count, or not at all
                    store.append_episode(storage, index, episode_seed(seed, index), ep)
                    steps, added = steps + len(ep), added + 1
                bar.update(1)
                bar.set_postfix(fps=f"{steps / (time.perf_counter() - start):.0f}")
        except KeyboardInterrupt:
            interrupted = True
        except Exception:
            # The handler raises KeyboardInterrupt wherever Python is; a library may wrap it (ctypes turns it
            # into `ArgumentError: argument 1: KeyboardInterrupt` when it lands in EGL's eglMakeCurrent, which
            # exited 1 under load). After our signal, any error is that interrupt: the episodes written are whole.
            if not signals.received:
                raise
            interrupted = True
        finally:
            bar.close()
    result = CollectResult(out, done + added, added, steps, time.perf_counter() - start, interrupted)
    if interrupted and progress:
        print(
            f"interrupted: {result.episodes} finished episodes are saved in {out}; run the same command again to resume",
            file=sys.stderr,
        )
    return result


def _record(
    spec: TaskSpec, policy: str, seed: int, noise: float, out: Path, starts=None, robot=None, pixels: bool = True
) -> dict:
    policy_name = policy_identity(policy)  # an SB3 file is named with the hash of its bytes
    label = policy if not policy.endswith(".zip") else f"sb3-{Path(policy.split(':')[-1]).stem}"
    if robot is not None:
        label = f"{robot.name}-{label}"
    if not pixels:
        label = f"{label}-state"
    dataset_id = out.name if "-v" in out.name else f"{spec.name}-{label}-v0"
    return {
        "format": 1,
        "dataset_id": f"wmgym/{dataset_id}",
        "task": spec.to_dict(),
        "policy": policy_name,
        "seed": seed,
        "noise": noise,
        "start_states": None if starts is None else hashlib.sha256(starts.tobytes()).hexdigest()[:16],
        "perturbation": None if robot is None else robot.to_dict(),
        **({} if pixels else {"pixels": False}),  # only where false: records before it had frames
        "description": (
            f"{spec.gym_id} rendered at {spec.image_size[0]}x{spec.image_size[1]} by wmgym, "
            if pixels
            else f"{spec.gym_id}'s state alone (unrendered) by wmgym, "
        )
        + ("" if robot is None else f"perturbed as the real-robot variant {robot.name!r} (see 'perturbation'), ")
        + f"behaviour policy {policy_name}, seed {seed}; infos['physics_state'] is MuJoCo's "
        "mjSTATE_INTEGRATION state before each observation.",
    }


_MUST_MATCH = ("task", "policy", "seed", "noise", "start_states", "perturbation", "pixels")


def _open(out: Path, record: dict, env: TruthEnv):
    existing = store.read_record(out)
    if existing is not None:
        wanted = json.loads(json.dumps(record))  # as stored: tuples become lists
        diff = [k for k in _MUST_MATCH if k != "task" and existing.get(k) != wanted.get(k)]
        # specs compare as specs: fields that are not compared (tolerances, rules) may be added later
        if TaskSpec.from_dict(existing["task"]) != TaskSpec.from_dict(record["task"]):
            diff.insert(0, "task")
        if diff:
            theirs = ", ".join(f"{k}={existing.get(k)!r}" for k in diff if k != "task")
            if "task" in diff:
                theirs = f"task={existing['task']['name']!r} (or another version of its spec)" + (
                    f", {theirs}" if theirs else ""
                )
            raise store.DatasetExistsError(
                f"{out} already holds a dataset collected with {theirs}. To add episodes to it, "
                "repeat those settings; to start a new one, choose another --out."
            )
        return store.open_for_append(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise store.DatasetExistsError(
            f"{out} exists and is not empty, and is not a wmgym dataset; refusing to overwrite it. "
            "Choose another --out (or remove that folder yourself)."
        )
    spaces = env.observation_space, env.action_space
    return store.create(out, record, *spaces), 0


def _episodes(
    spec, policy, seed, noise, todo: range, workers: int, starts=None, robot=None, obs_mode=None
) -> Iterator[tuple[int, store.EpisodeArrays]]:
    """Finished episodes in index order, from this process or a pool of workers."""
    if workers == 1 or len(todo) <= 1:
        _init_worker(spec, policy, noise, starts, robot, obs_mode)
        try:
            yield from ((i, _run_episode((seed, i))) for i in todo)
        finally:
            _WORKER.clear()
        return
    # spawn, not fork: a forked child would share the parent's GL and torch thread state.
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(
        min(workers, len(todo)), initializer=_init_pool_worker, initargs=(spec, policy, noise, starts, robot, obs_mode)
    )
    try:
        yield from zip(todo, pool.imap(_run_episode, [(seed, i) for i in todo]), strict=True)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


GUARD = '`if __name__ == "__main__":`'


def _check_workers_can_start(workers: int) -> None:
    """Refuse a worker pool that could never start, before anything is written.

    Spawned workers run the ``__main__`` script's top-level code again. Called from there outside
    a guard, ``collect`` would start a collection of its own in each worker, whose pool fails to
    start, and `multiprocessing.Pool` replaces each dead worker forever: the call would hang.
    """
    if getattr(mp.current_process(), "_inheriting", False):  # this is such a worker, starting
        raise RuntimeError(f"collect(workers>1) ran while a worker process started: put it under {GUARD}")
    where = _unguarded_main_line()
    if where:
        script, line = where
        raise RuntimeError(
            f"collect(workers={workers}) is called from the top-level code of {script} (line {line}), outside "
            f"{GUARD}. Each worker process starts by running that code again, so the workers could never "
            f"start. Put the code that calls collect under {GUARD} (or pass workers=1)."
        )


def _unguarded_main_line() -> tuple[str, int] | None:
    """(script, line) of the top-level statement of ``__main__`` this call runs in, where it is not
    under an ``if`` on ``__name__``; None otherwise, or if that cannot be told (no script file)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:  # an interactive session or `python -c`: workers do not run it again
        return None
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return None
    try:
        tree = ast.parse(Path(path).read_text(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    for node in tree.body:
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            guarded = isinstance(node, ast.If) and any(
                isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)
            )
            return None if guarded else (path, node.lineno)
    return None


_WORKER: dict = {}


def _init_pool_worker(spec: TaskSpec, policy: str, noise: float, starts=None, robot=None, obs_mode=None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    if policy.endswith(".zip"):
        import torch

        torch.set_num_threads(1)  # one process per core already
    _init_worker(spec, policy, noise, starts, robot, obs_mode)


def _init_worker(spec: TaskSpec, policy: str, noise: float, starts=None, robot=None, obs_mode=None) -> None:
    env = TruthEnv(spec, obs_mode, perturbation=robot)
    _WORKER.update(env=env, policy=make_policy(policy, env, noise), starts=starts)


def _run_episode(seed_index: tuple[int, int]) -> store.EpisodeArrays:
    seed, index = seed_index
    starts = _WORKER.get("starts")
    options = None if starts is None else {"physics_state": starts[index % len(starts)]}
    ep = run_episode(
        _WORKER["env"],
        _WORKER["policy"],
        episode_seed(seed, index),
        options=options,
        rng=np.random.default_rng([seed, index, 1]),
        physics=True,
    )
    return store.EpisodeArrays(
        pixels=ep.obs.get("pixels"),
        state=ep.obs["state"],
        actions=ep.actions,
        rewards=ep.rewards,
        terminations=ep.terminated,
        truncations=ep.truncated,
        physics_state=ep.physics_state,
    )


class _signals_as_interrupt:
    """Treat SIGTERM (`kill`) and SIGINT (Ctrl-C) alike: finished episodes are kept, the pool stops.

    SIGINT is set explicitly too: a process started in the background of a script inherits it
    ignored, and `kill -INT` must still stop a collection cleanly. Inside `deferred()` (writing an
    episode and its count in Minari's metadata) a signal is held until the block ends: raised in
    between, it left an episode on disk that the metadata did not count.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self._depth, self._pending, self.received = 0, False, False

    def __enter__(self):
        try:
            self._previous = {s: signal.signal(s, self._on_signal) for s in self.SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            self._previous = {}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    @contextlib.contextmanager
    def deferred(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._pending and not self._depth:
            self._pending = False
            raise KeyboardInterrupt

    def _on_signal(self, signum, frame):
        self.received = True
        if self._depth:
            self._pending = True
            return
        raise KeyboardInterrupt
