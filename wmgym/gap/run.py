"""`gap`: the sim-to-real gap report of a world model (``wmgym gap --model reacher --out DIR``).

Policies (rows): trained in nominal MuJoCo (``mujoco``), in the nominal dream (``dream``), in the dream
adapted to each robot (``adapted:P``), and in each perturbed MuJoCo itself (the oracle, ``oracle:P``),
plus random and zero baselines and any policy of your own. Worlds (columns): nominal MuJoCo, each
perturbed MuJoCo robot (``mujoco:P``), the nominal dream and each adapted dream (``dream:P``).
Policies are SB3 ``.zip`` files given by path (``--policies NAME=PATH``); ``--train`` trains the
missing standard rows (PPO in dreams, the same agent in MuJoCo), collects ``--adapt-episodes``
episodes of each robot and adapts the model to them (`wmgym.gap.adaptation`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from wmgym import checkpoint
from wmgym.gap.agents import ALGOS, Recipe, model_digest, train_policy
from wmgym.gap.folder import check_out, write_json
from wmgym.gap.matrix import Scale, World, cell, ranking, returns
from wmgym.tasks import TaskSpec, get_task
from wmgym.truth.perturb import load as load_perturbation
from wmgym.zoo import resolve

MARKER = "gap.json"


@dataclass(frozen=True)
class GapConfig:
    """What `gap` compares, and the budgets of what it trains.

    Raises:
        ValueError: a count out of range, a malformed NAME=PATH pair, an unknown algorithm.
    """

    perturbations: tuple[str, ...] = ()
    """The robots: variants of the model's task (``wmgym perturbations``) or .json specs; empty: every
    named variant of the task."""
    policies: tuple[str, ...] = ()
    """Policies as NAME=PATH.zip (SB3; loading one runs its code). Standard names: mujoco, dream,
    adapted:P, oracle:P; any other name is compared too."""
    adapted: tuple[str, ...] = ()
    """Adapted world models as P=MODEL (a checkpoint or run folder, e.g. a `wmgym adapt` OUT/run)."""
    baselines: tuple[str, ...] = ("random", "zero")
    """Policies every report includes (a random one also sets the normalized scale's 0)."""
    episodes: int = 30
    """Episodes per policy and world."""
    seed: int = 20_000
    """First reset seed of the evaluation episodes (the same in every world)."""
    train: bool = False
    """Train the standard policies (and adapted models) that are not given."""
    ppo_steps: int = 300_000
    """PPO steps in a dream, and in MuJoCo for an oracle trained with PPO."""
    ppo_envs: int = 64
    """Envs PPO steps at once (rollouts of 64 steps each)."""
    oracle_algo: str = "ppo"
    """Agent trained in MuJoCo (nominal: ``mujoco``; each robot: ``oracle:P``): ppo (the same agent as
    in the dreams) or sac."""
    oracle_steps: int | None = None
    """Steps of the MuJoCo agent; None: ppo_steps."""
    adapt_episodes: int = 0
    """With train: episodes of each robot to adapt the model on (half OU noise, half the dream policy
    with action noise 0.3); 0: adapt nothing (only --adapted models are dreams)."""
    adapt_minutes: float = 3.0
    """With train: fine-tuning minutes per robot."""
    calibrate_adapted: bool = True
    """With train: calibrate each adapted model (and the model before) against its robot."""
    calibration_episodes: int = 16
    """Rendered paired rollouts of each of those calibrations (4x as many state-only ones)."""
    bootstrap: int = 1000
    """Bootstrap resamples of the intervals."""
    device: str = "cpu"
    """Torch device of the dreams and the fine-tunes."""

    def __post_init__(self):
        for name, low in (("episodes", 2), ("ppo_steps", 1), ("ppo_envs", 1), ("bootstrap", 10), ("adapt_episodes", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
        if self.oracle_algo not in ALGOS:
            raise ValueError(f"oracle_algo must be one of {', '.join(ALGOS)}, got {self.oracle_algo!r}")
        for pair in (*self.policies, *self.adapted):
            _pair(pair)


def _pair(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"expected NAME=PATH, got {text!r} (e.g. mujoco=runs/sac.zip, strong-motors=adapt/run)")
    return name, path


def gap(model: str | Path, out: str | Path, config: GapConfig | None = None, progress: bool = True) -> dict:
    """Measure the sim-to-real gap of ``model`` and write ``gap.json``, ``report.md`` and
    ``heatmap.png`` into ``out`` (and, with ``train``, the trained policies and adapted models).

    Returns:
        What ``gap.json`` holds.

    Raises:
        FileExistsError: ``out`` holds files that ``wmgym gap`` did not write.
    """
    cfg, out, started = config or GapConfig(), Path(out), time.perf_counter()
    check_out(out, MARKER, "gap")
    task = TaskSpec.from_dict(checkpoint.read_config(resolve(model))["task"]).name
    robots = _robots(task, cfg.perturbations)
    policies = dict(_pair(p) for p in cfg.policies)
    adapted = {p: m for p, m in map(_pair, cfg.adapted)}
    unknown = sorted(set(adapted) - set(robots))
    if unknown:
        raise ValueError(f"--adapted names {unknown}, which are not among the robots compared: {sorted(robots)}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, {"wmgym": "gap", "status": "started"})  # an interrupted report may be rerun here
    adaptation = {}
    if cfg.train:
        adaptation = _train_missing(str(model), task, robots, policies, adapted, cfg, out, progress)
    worlds = _worlds(str(model), robots, adapted)
    rows = [*cfg.baselines, *_ordered(policies, robots)]
    results = _measure(task, rows, policies, worlds, cfg, progress)
    scale = _scale(task, results, cfg)
    report = {
        "wmgym": "gap",
        "model": str(model),
        "task": task,
        "date": time.strftime("%Y-%m-%d"),
        "settings": asdict(cfg),
        "perturbations": {p: r.to_dict() for p, r in robots.items()},
        "policies": {r: policies.get(r, r) for r in rows},
        "worlds": [w.name for w in worlds],
        "scale": asdict(scale),
        "returns": results,
        "ranking": _rankings(rows, worlds, results, scale, cfg),
        "adaptation": adaptation,
        "missing": _missing(policies, robots, adapted),
        "seconds": round(time.perf_counter() - started, 1),
        "status": "done",
    }
    from wmgym.gap.report import write_report

    report["files"] = write_report(out, report, scale)
    return write_json(out / MARKER, report)


def _robots(task: str, names: tuple[str, ...]) -> dict:
    """{name: Perturbation} of the robots compared (every named variant when none is given)."""
    if not names:
        from wmgym.truth.variants import LEVELS, list_perturbations

        names = tuple(n for n in list_perturbations(task) if n not in LEVELS)
        if not names:
            raise ValueError(f"task {task!r} has no named robot variants: give --perturbations (e.g. medium)")
    robots = {}
    for n in names:
        robot = load_perturbation(n, task)
        if robot is None:
            raise ValueError(f"perturbation {n!r} changes nothing: it is nominal MuJoCo, already a world")
        robots[robot.name] = robot
    return robots


def _worlds(model: str, robots: dict, adapted: dict) -> list[World]:
    worlds = [World("mujoco", "mujoco")]
    worlds += [World(f"mujoco:{p}", "mujoco", robot=r) for p, r in robots.items()]
    worlds.append(World("dream", "dream", model=model))
    worlds += [World(f"dream:{p}", "dream", model=m) for p, m in adapted.items()]
    return worlds


def _ordered(policies: dict, robots: dict) -> list[str]:
    """The rows in reading order: mujoco, dream, adapted and oracle per robot, then the user's own."""
    standard = ["mujoco", "dream", *(f"adapted:{p}" for p in robots), *(f"oracle:{p}" for p in robots)]
    return [r for r in standard if r in policies] + [r for r in policies if r not in standard]


def _missing(policies: dict, robots: dict, adapted: dict) -> list[str]:
    standard = ["mujoco", "dream", *(f"adapted:{p}" for p in robots), *(f"oracle:{p}" for p in robots)]
    return [r for r in standard if r not in policies] + [f"dream:{p}" for p in robots if p not in adapted]


def _measure(task: str, rows: list[str], policies: dict, worlds: list[World], cfg: GapConfig, progress) -> dict:
    """{policy: {world: cell}} over every row and world."""
    results, envs = {r: {} for r in rows}, {}
    with tqdm(total=len(rows) * len(worlds), desc="gap matrix", disable=not progress, unit="cell") as bar:
        for r in rows:
            for w in worlds:
                eps = returns(w, task, policies.get(r, r), cfg.episodes, cfg.seed, cfg.device, envs)
                results[r][w.name] = cell(eps, cfg.bootstrap)
                bar.update(1)
    return results


def _scale(task: str, results: dict, cfg: GapConfig) -> Scale:
    """The task's reference (`TaskSpec.reference`) or, without one, the measured random policy and the
    best policy in nominal MuJoCo."""
    ref = get_task(task).reference
    if ref is not None:
        return Scale(ref.random, ref.expert, f"the task's reference: {ref.how}")
    nominal = {r: c["mujoco"]["mean"] for r, c in results.items()}
    low = nominal.get("random", min(nominal.values()))
    best = max(nominal, key=nominal.get)
    how = f"measured here: {'random' if 'random' in nominal else 'the worst policy'} = 0, {best} in nominal MuJoCo = 1"
    return Scale(low, nominal[best] if nominal[best] != low else low + 1.0, how)


def _rankings(rows: list[str], worlds: list[World], results: dict, scale: Scale, cfg: GapConfig) -> list[dict]:
    """Each dream against each MuJoCo world: does the dream order the policies as that world does?"""
    out = []
    for d in (w for w in worlds if w.kind == "dream"):
        for m in (w for w in worlds if w.kind == "mujoco"):
            real = [np.asarray(results[r][m.name]["episodes"]) for r in rows]
            sim = [np.asarray(results[r][d.name]["episodes"]) for r in rows]
            out.append({"dream": d.name, "mujoco": m.name, **ranking(real, sim, scale, cfg.bootstrap)})
    return out


def _train_missing(model, task, robots, policies, adapted, cfg: GapConfig, out: Path, progress) -> dict:
    """Train the standard rows not given (in place in ``policies`` and ``adapted``); returns what each
    adaptation reported."""
    folder = out / "policies"
    steps = cfg.oracle_steps or cfg.ppo_steps

    def need(name: str, recipe: Recipe) -> None:
        if name not in policies:
            path = folder / f"{name.replace(':', '-')}.zip"
            policies[name] = str(train_policy(recipe, path, progress, cfg.device))

    n = cfg.ppo_envs

    def dream(m: str) -> Recipe:
        return Recipe("dream", task, "ppo", cfg.ppo_steps, model=m, model_digest=model_digest(m), envs=n)

    need("dream", dream(model))
    need("mujoco", Recipe("mujoco", task, cfg.oracle_algo, steps, envs=n))
    reports = {}
    for p, robot in robots.items():
        if p not in adapted and cfg.adapt_episodes:
            adapted[p], reports[p] = _adapt_to(model, task, p, robot, policies["dream"], cfg, out, progress)
        if p in adapted:
            need(f"adapted:{p}", dream(adapted[p]))
        need(f"oracle:{p}", Recipe("mujoco", task, cfg.oracle_algo, steps, perturbation=robot.to_dict(), envs=n))
    return reports


def _adapt_to(model, task, name, robot, dream_policy, cfg: GapConfig, out: Path, progress) -> tuple[str, dict]:
    """Collect ``adapt_episodes`` episodes of the robot and adapt the model to them."""
    from wmgym.data import collect
    from wmgym.gap.adaptation import MARKER as ADAPTED
    from wmgym.gap.adaptation import AdaptConfig, adapt
    from wmgym.jsonfile import written_by

    where = out / "robots" / name
    half = cfg.adapt_episodes // 2
    sources = [("ou-noise", cfg.adapt_episodes - half, 31), (f"{dream_policy}@0.3", half, 32)]
    data = []
    for i, (policy, n, seed) in enumerate(s for s in sources if s[1] > 0):
        # an earlier report's collection into this folder resumes (or is complete already)
        data.append(
            collect(task, n, where / f"data-{i}", policy=policy, seed=seed, perturbation=robot, progress=progress).out
        )
    run = where / "adapt"
    if written_by(run / ADAPTED, "adapt"):
        earlier = json.loads((run / ADAPTED).read_text())
        if earlier.get("status") == "done":  # adapted by an earlier report into this folder: reuse it
            return str(run / "run"), earlier
    acfg = AdaptConfig(
        minutes=cfg.adapt_minutes,
        device=cfg.device,
        calibrate=cfg.calibrate_adapted,
        calibration_episodes=cfg.calibration_episodes,
        calibration_state_episodes=4 * cfg.calibration_episodes,
    )
    return str(run / "run"), adapt(model, data, run, acfg, progress)
