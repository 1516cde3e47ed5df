"""How long can any simulator that is slightly wrong be trusted? MuJoCo against itself.

Run:  python benchmarks/predictability.py --policies-dir runs/policies [--tasks reacher ...] [--scales 1.001 1.01 1.05]

A world model's trust horizon is bounded by the task's own sensitivity to small errors: an inverted
pendulum amplifies any error in the pole's state about e-fold every few steps, a cheetah's stride
hardly at all. This measures that bound with the calibration's own rule and kinds of episodes: the
state sweep of `wmgym calibrate` (its default seed, 128 open-loop pairs of the ``ou-noise`` and
``random`` behaviours, 4 context steps, 50 open-loop steps) and, with --policies-dir, 32 episodes of
the task's SB3 SAC (``sac-<task>.zip``, action noise 0.3) acting in the nominal MuJoCo, whose actions
are then replayed open loop (a state-independent behaviour ends a pendulum's episode within ~17
steps; the SAC holds it up): all replayed in a MuJoCo whose every body mass (and inertia) is scaled
by each --scales factor, against the nominal MuJoCo. For each of the task's state
tolerances (`wmgym.tasks.suite`): the trust horizon of that perturbed MuJoCo (the largest h with the
median error inside the tolerance at every step up to h), beside the shipped zoo model's card.
Writes benchmarks/results/predictability.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from wmgym.calibrate.rollouts import _until_terminated, episodes_past_context, state_sweep  # noqa: E402
from wmgym.calibrate.run import CalibrationConfig  # noqa: E402
from wmgym.metrics import trust_horizon  # noqa: E402
from wmgym.physics import BatchedTruth  # noqa: E402
from wmgym.policies import make_policy  # noqa: E402
from wmgym.tasks import get_task  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402
from wmgym.truth.perturb import Perturbation, PhysicsChange  # noqa: E402
from wmgym.zoo import ZOO  # noqa: E402

TASKS = ("reacher", "inverted_pendulum", "pusher", "half_cheetah", "hopper")


def heavier(scale: float) -> Perturbation:
    """Every body's mass and inertia times ``scale``."""
    return Perturbation(f"mass x{scale:g}", physics=(PhysicsChange("body_mass", (), scale=scale),))


def policy_pairs(task: str, policy: str, n: int, cfg: CalibrationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(start physics states (N, n), actions (N, H, A)) of ``policy`` acting in the nominal MuJoCo
    after the context; an episode that ends sooner repeats its last action (masked out later)."""
    spec = get_task(task)
    env = TruthEnv(spec.replace(episode_length=cfg.context + cfg.horizon), obs_mode="state")
    starts, actions = [], []
    try:
        pol = make_policy(policy, env)
        for ep in episodes_past_context(env, pol, n, cfg.seed + 7_000, cfg.context, physics=True):
            a = np.asarray(ep.actions[cfg.context :], np.float64)
            if not len(a):  # ended on the context's last step: nothing to replay
                continue
            pad = np.repeat(a[-1:], cfg.horizon - len(a), 0)
            starts.append(ep.physics_state[cfg.context])
            actions.append(np.concatenate([a, pad]))
    finally:
        env.close()
    return np.stack(starts), np.stack(actions)


def horizons(task: str, scales: list[float], cfg: CalibrationConfig, policy: str | None) -> dict:
    spec = get_task(task)
    sweep = state_sweep(
        spec, cfg.behaviour, cfg.state_episodes, cfg.seed + 50_000, cfg.context, cfg.horizon, "mujoco"
    )  # the calibration's state sweep, seed and all
    starts, actions = sweep["start_physics"], sweep["action"]
    if policy is not None:
        more = policy_pairs(task, policy, cfg.episodes, cfg)
        starts, actions = np.concatenate([starts, more[0]]), np.concatenate([actions, more[1]])
    nominal = BatchedTruth(spec).rollout(starts, actions)
    valid = _until_terminated(nominal["terminated"])  # up to and including the step where nominal MuJoCo's ends
    out = {}
    for scale in scales:
        other = BatchedTruth(spec, heavier(scale)).rollout(starts, actions)
        diff = other["state"] - nominal["state"]
        row = {}
        for t in spec.trust.tolerances:
            if t.kind != "state":
                continue
            err = np.where(valid, np.linalg.norm(diff[..., list(t.indices)], axis=-1), np.nan)
            med = np.nanmedian(err, axis=0)
            row[t.name] = {"horizon": trust_horizon(med <= t.threshold), "median_h50": float(med[-1])}
        out[f"{scale:g}"] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--scales", nargs="+", type=float, default=[1.001, 1.01, 1.05])
    p.add_argument("--policies-dir", type=Path, default=None, help="folder of sac-<task>.zip (agents/sac_truth.py)")
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    cfg = CalibrationConfig()
    start = time.perf_counter()
    out = args.results / "predictability.json"
    before = json.loads(out.read_text())["tasks"] if out.is_file() else {}  # a run for some tasks keeps the others'

    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        "episodes": cfg.state_episodes,
        "behaviour": list(cfg.behaviour),
        "horizon": cfg.horizon,
        "tasks": {t: v for t, v in before.items() if t not in args.tasks},
    }
    for task in args.tasks:
        print(f"{task} ...", flush=True)
        card_file = ZOO / task / "calibration.json"
        card = json.loads(card_file.read_text()) if card_file.is_file() else None
        sac = None if args.policies_dir is None else args.policies_dir / f"sac-{task}.zip"
        policy = f"{sac}@0.3" if sac is not None and sac.is_file() else None
        result["tasks"][task] = {
            "command": result["command"],
            "date": result["date"],
            "policy": policy,
            "perturbed_mujoco": horizons(task, args.scales, cfg, policy),
            "zoo_model": None
            if card is None
            else {n: c["horizon"] for n, c in card["trust_horizon"]["criteria"].items()},
        }
    result["seconds"] = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "predictability.json").write_text(json.dumps(result, indent=2) + "\n")
    write_md(args.results / "predictability.md", result, args.scales)
    print((args.results / "predictability.md").read_text())


def write_md(path: Path, r: dict, scales: list[float]) -> None:
    head = " | ".join(f"MuJoCo, masses x{s:g}" for s in scales)
    lines = [
        "# Predictability: how long a slightly wrong MuJoCo stays inside each state tolerance",
        "",
        f"Command (the latest run; a run for some --tasks keeps the other tasks' rows): `{r['command']}`  ",
        f"Machine: {r['machine']}; {r['date']}; {r['seconds']:.0f} s.",
        "",
        f"The calibration's state sweep ({r['episodes']} open-loop pairs of {', '.join(r['behaviour'])}, "
        f"{r['horizon']} steps) and, where the task names one, 32 episodes of its SAC with action noise 0.3 "
        "acting in the nominal MuJoCo, replayed open loop in MuJoCo with every body's mass and inertia scaled, against the "
        "nominal MuJoCo; trust horizon by the calibration's rule (median error inside the tolerance at every "
        f"step up to h; {r['horizon']} = all). The zoo model's column is its card's horizon for that criterion "
        "(its card pools these pairs with rendered ones).",
        "",
        f"| task | state tolerance | episodes | {head} | zoo model |",
        "|---|---|---|" + "---:|" * (len(scales) + 1),
    ]
    for task, t in r["tasks"].items():
        for name in next(iter(t["perturbed_mujoco"].values())):
            cells = " | ".join(str(t["perturbed_mujoco"][f"{s:g}"][name]["horizon"]) for s in scales)
            zoo = "" if t["zoo_model"] is None else str(t["zoo_model"].get(name, ""))
            eps = "behaviours + SAC" if t.get("policy") else "behaviours"
            lines.append(f"| {task} | {name} | {eps} | {cells} | {zoo} |")
    earlier = [
        f"- {task}: `{t['command']}` ({t['date']})" for task, t in r["tasks"].items() if t["command"] != r["command"]
    ]
    if earlier:
        lines += ["", "Rows of tasks measured by an earlier run, and its command:", "", *earlier]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
