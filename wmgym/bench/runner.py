"""`run_bench`: plan the cells, run the missing ones (here, in worker processes, or on Ray), save each
as it finishes, then write results.json, report.md and the plots.

The run folder: ``bench.json`` (the marker, the config and the settings every cell shares),
``cells/<task>__<agent>__seed<N>.json`` (one per finished cell, written atomically), ``tensorboard/<cell>/``,
and, once every cell is in, ``results.json``, ``report.md`` and PNGs. A re-run of the same command
skips the finished cells, so an interrupted run (Ctrl-C, a lost worker, a lost machine) loses at most
the cells that were running.
"""

from __future__ import annotations

import fcntl
import math
import multiprocessing as mp
import queue as queue_module
import time
import traceback
from pathlib import Path

from tqdm.auto import tqdm

from wmgym.bench.config import BenchConfig, curve_targets
from wmgym.errors import RunFolderError
from wmgym.jsonfile import read_object

MARKER = {"wmgym": "bench"}
RUN_FILE = "bench.json"
CELLS = "cells"


def run_bench(out: str | Path, config: BenchConfig | None = None) -> dict:
    """Run (or resume) a benchmark into ``out`` and return its results (as written to results.json).

    Args:
        out: the run folder: missing, empty, or an earlier ``wmgym bench`` run of the same settings
            (which resumes: its finished cells are kept).
        config: what to run (default: the smoke suite).

    Raises:
        FileExistsError: ``out`` holds files that ``wmgym bench`` did not write.
        RunFolderError: ``out`` is a run of other settings, or another ``wmgym bench`` is running on it.
        ValueError: an unknown task or agent, a task without a world model, a budget too small.
    """
    cfg = (config or BenchConfig()).resolved()
    out = Path(out)
    check_out(out)
    cells = plan(cfg)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        _claim(out, cfg, cells)
        done = finished(out, cells)
        todo = [c for c in cells if c.id not in done]
        failed = _execute(out, cfg, todo, len(cells), len(done))
        return write_results(out, cfg, cells, failed)


def check_out(out: Path) -> None:
    """Refuse an ``out`` that is neither missing, nor empty, nor a ``wmgym bench`` run folder."""
    if not out.exists() or (out.is_dir() and not any(p.name != ".lock" for p in out.iterdir())):
        return
    if out.is_dir() and read_object(out / RUN_FILE).get("wmgym") == MARKER["wmgym"]:
        return
    raise FileExistsError(
        f"{out} exists and is not a `wmgym bench` run folder (no {RUN_FILE} written by wmgym bench); refusing to "
        "write into it. Choose another --out (or remove that folder yourself)."
    )


def plan(cfg: BenchConfig) -> list:
    """The run's cells (task-major, then agent, then seed), after checking that each can run."""
    from wmgym.bench.agents import min_budget, resolve_agent
    from wmgym.bench.cell import Cell, truth_env
    from wmgym.tasks import get_task

    _require_rliable()
    for task in cfg.tasks:
        get_task(task)  # an unknown task: KeyError naming the known ones
        _check_model(cfg, task)
    for agent in cfg.agents:
        resolve_agent(agent)
        if cfg.budget < min_budget(agent):
            raise ValueError(f"budget {cfg.budget} is too small for agent {agent!r}: it needs {min_budget(agent)}")
    for task in cfg.tasks:
        for world in cfg.worlds:
            truth_env(task, world).close()  # an unknown perturbation fails now, not after training
    targets = tuple(curve_targets(cfg.budget, cfg.curve_points))
    return [
        Cell(t, a, s, cfg.model_of(t), cfg.budget, cfg.eval_episodes, targets, cfg.curve_episodes, cfg.worlds)
        for t in cfg.tasks
        for a in cfg.agents
        for s in range(cfg.seeds)
    ]


def _require_rliable() -> None:
    """Fail before the cells run, not after, where the statistics cannot be computed."""
    try:
        import rliable.library  # noqa: F401
    except ImportError as e:
        raise ValueError(
            f"wmgym bench reports with rliable, which does not import here ({e}): pip install 'wmgym[bench]'"
        ) from None


def _check_model(cfg: BenchConfig, task: str) -> None:
    from wmgym.zoo import zoo_models

    model = cfg.model_of(task)
    if model == task and task not in zoo_models():
        raise ValueError(
            f"task {task!r} has no world model in the zoo (shipped: {', '.join(zoo_models())}): leave it out of "
            f"--tasks, or train one and pass --models {task}=RUN_FOLDER"
        )
    if model != task:
        from wmgym.checkpoint import read_config
        from wmgym.zoo import resolve

        trained_on = read_config(resolve(model))["task"]["name"]
        if trained_on != task:
            raise ValueError(f"--models {task}={model}: that is a world model of task {trained_on!r}, not {task!r}")


def _claim(out: Path, cfg: BenchConfig, cells: list) -> None:
    """Write the run's marker and settings, or check that a run being resumed has the same ones."""
    mine = {**MARKER, "settings": cfg.cell_settings(), "models": {c.task: c.model for c in cells}}
    saved = read_object(out / RUN_FILE)
    if saved:
        for key in ("settings", "models"):
            theirs = {k: v for k, v in saved.get(key, {}).items() if k in mine[key]}
            if theirs != {k: v for k, v in mine[key].items() if k in theirs}:
                raise RunFolderError(
                    f"{out} holds a benchmark run with other {key} ({theirs} here, {mine[key]} now): cells of "
                    "different settings are not comparable. Use another --out, or the same settings to resume it."
                )
        mine["models"] = {**saved.get("models", {}), **mine["models"]}
    from wmgym.checkpoint import write_json

    write_json(out / RUN_FILE, {**mine, "config": cfg.to_dict()})


def finished(out: Path, cells: list) -> dict[str, dict]:
    """The cells of this plan already saved in ``out`` (a cell file that does not parse is run again)."""
    done = {}
    for cell in cells:
        saved = read_object(out / CELLS / f"{cell.id}.json")
        if saved.get("id") == cell.id and saved.get("budget") == cell.budget:
            done[cell.id] = saved
    return done


def save_cell(out: Path, result: dict) -> None:
    """Write a finished cell: its TensorBoard files, then (atomically, last) its JSON."""
    from wmgym.checkpoint import write_json

    tb = out / "tensorboard" / result["id"]
    for rel, data in result.pop("tensorboard", {}).items():
        path = tb / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (out / CELLS).mkdir(exist_ok=True)
    write_json(out / CELLS / f"{result['id']}.json", result)


def write_results(out: Path, cfg: BenchConfig, cells: list, failed: dict[str, str]) -> dict:
    """results.json, report.md and the plots, from the cells saved in ``out``."""
    from wmgym.bench import report, stats
    from wmgym.checkpoint import write_json

    done = finished(out, cells)
    results = {
        "suite": cfg.suite,
        "tasks": list(cfg.tasks),
        "agents": list(cfg.agents),
        "seeds": list(range(cfg.seeds)),
        "worlds": list(cfg.worlds),
        "settings": cfg.cell_settings(),
        "bootstrap_reps": cfg.reps,
        "models": {c.task: c.model for c in cells},
        "evaluation_seeds": f"MuJoCo reset seeds 1000..{999 + cfg.eval_episodes}; dream env i seeded 1000 + i",
        "references": stats.references(cfg.tasks),
        "missing": [c.id for c in cells if c.id not in done],
        "failed": failed,
        "cells": [_without_timing(done[c.id]) for c in cells if c.id in done],
    }
    if not results["missing"]:
        results.update(stats.summarize(results["cells"], cfg.tasks, cfg.agents, range(cfg.seeds), cfg.worlds, cfg.reps))
    results = _json_safe(results)
    write_json(out / "results.json", results)
    report.write(out, results, [done[c.id].get("timing", {}) for c in cells if c.id in done])
    return results


# -- running cells ----------------------------------------------------------------------------------


def _execute(out: Path, cfg: BenchConfig, todo: list, total: int, done: int) -> dict[str, str]:
    """Run ``todo``, saving each cell as it finishes; returns {cell id: why it failed}."""
    bars = _Bars(total, done, cfg.progress)
    try:
        if not todo:
            return {}
        if cfg.ray is not None:
            return _on_ray(out, cfg, todo, bars)
        if cfg.workers == 0:
            return _in_process(out, todo, bars)
        return _in_processes(out, cfg.workers, todo, bars)
    except KeyboardInterrupt:
        bars.close()
        print(f"\ninterrupted: the finished cells are saved in {out}; run the same command again to resume")
        raise
    finally:
        bars.close()


def _in_process(out: Path, todo: list, bars: _Bars) -> dict[str, str]:
    from wmgym.bench.cell import run_cell

    for cell in todo:
        save_cell(out, run_cell(cell, lambda s, c=cell: bars.cell(c, s)))
        bars.done(cell)
    return {}


def _in_processes(out: Path, workers: int, todo: list, bars: _Bars) -> dict[str, str]:
    """One spawned process per cell, at most ``workers`` at once; a process that dies loses its cell only."""
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    waiting, running, failed = list(todo), {}, {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                cell = waiting.pop(0)
                running[cell.id] = (cell, ctx.Process(target=_worker, args=(cell, messages), daemon=True))
                running[cell.id][1].start()
            _drain(messages, out, running, failed, bars, timeout=0.5)
            for cid, (cell, proc) in list(running.items()):
                if not proc.is_alive():
                    _drain(messages, out, running, failed, bars, timeout=0.2)
                    if cid in running:  # died without a result: lost worker
                        failed[cid] = f"worker process died (exit code {proc.exitcode})"
                        running.pop(cid)
                        bars.done(cell, ok=False)
    finally:
        for _, proc in running.values():
            proc.terminate()
            proc.join(5)
    return failed


def _worker(cell, messages) -> None:
    from wmgym.bench.cell import run_cell

    try:
        result = run_cell(cell, lambda s: messages.put(("progress", cell.id, s)))
        messages.put(("done", cell.id, result))
    except Exception:
        messages.put(("error", cell.id, traceback.format_exc()))


def _drain(messages, out: Path, running: dict, failed: dict, bars: _Bars, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            kind, cid, payload = messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue_module.Empty:
            return
        if cid not in running:
            continue
        cell = running[cid][0]
        if kind == "progress":
            bars.cell(cell, payload)
            continue
        running.pop(cid)[1].join(30)
        if kind == "done":
            save_cell(out, payload)
        else:
            failed[cid] = payload
            print(f"\ncell {cid} failed:\n{payload}")
        bars.done(cell, ok=kind == "done")


def _on_ray(out: Path, cfg: BenchConfig, todo: list, bars: _Bars) -> dict[str, str]:
    """One Ray task per cell (retried once if its worker dies); results come back to this driver."""
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'wmgym[ray]'") from None
    if not ray.is_initialized():
        if cfg.ray == "local":
            ray.init(num_cpus=max(1, cfg.workers), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=cfg.ray, log_to_driver=False)
    progress = Queue()
    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_cell)
    refs = {remote.remote(cell, progress): cell for cell in todo}
    failed = {}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            while not progress.empty():
                cid, steps = progress.get_nowait()
                bars.cell(next(c for c in todo if c.id == cid), steps)
            for ref in ready:
                cell = refs.pop(ref)
                try:
                    save_cell(out, ray.get(ref))
                    bars.done(cell)
                except Exception as e:  # a task error or a worker lost twice: this cell only
                    failed[cell.id] = f"{type(e).__name__}: {e}"
                    bars.done(cell, ok=False)
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        progress.shutdown()
    return failed


def _ray_cell(cell, progress) -> dict:
    from wmgym.bench.cell import run_cell

    return run_cell(cell, lambda s: progress.put_nowait((cell.id, s)))


class _Bars:
    """A bar across cells and one per running cell (its dream steps)."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.enabled = enabled
        self.outer = tqdm(total=total, initial=done, desc="cells", disable=not enabled, position=0)
        self.inner: dict[str, tqdm] = {}

    def cell(self, cell, steps: int) -> None:
        if not self.enabled:
            return
        if cell.id not in self.inner:
            pos = 1 + len(self.inner)
            self.inner[cell.id] = tqdm(total=cell.budget, desc=cell.id, unit="step", leave=False, position=pos)
        bar = self.inner[cell.id]
        bar.update(steps - bar.n)

    def done(self, cell, ok: bool = True) -> None:
        bar = self.inner.pop(cell.id, None)
        if bar is not None:
            bar.close()
        self.outer.update(1)
        if not ok:
            self.outer.set_postfix_str("some cells failed: re-run to retry them")

    def close(self) -> None:
        for bar in self.inner.values():
            bar.close()
        self.inner.clear()
        self.outer.close()


class _locked:
    """Hold an exclusive lock on ``out`` so two runs never write the same folder."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        self.file = open(self.path, "w")  # noqa: SIM115 (held open for the run's duration)
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise RunFolderError(f"another `wmgym bench` is running on {self.path.parent}; wait for it") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def _without_timing(cell: dict) -> dict:
    return {k: v for k, v in cell.items() if k != "timing"}


def _json_safe(x):
    """NaN and inf as null (JSON has neither)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
