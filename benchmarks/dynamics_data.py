"""How far the dynamics alone hold open loop, by how much state-only data they train on.

A pilot for the world model's data plan: the renderer needs rendered frames (slow to make on a CPU,
12 KB each to keep), the dynamics only the state vector, which MuJoCo steps unrendered in
microseconds. This trains the dynamics of an `ensemble-small` model (its 10-step open-loop loss,
nothing else) for the same minutes on state-only datasets of each size given, drawn by the task's
data plan (`benchmarks/world_model.py` PLANS, its proportions scaled), one process and one thread
each, side by side, then rolls every model open loop from true states over held-out episodes and
reports the median error of each of the task's state tolerances by horizon, and the trust horizon by
the calibration's rule (median inside the tolerance at every step up to h).

    OMP_NUM_THREADS=1 python benchmarks/dynamics_data.py --task pusher --sac runs/policies/sac-pusher.zip \
        --frames 50000 400000 --minutes 10

Results: benchmarks/results/dynamics_data_<task>.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from world_model import PLANS, _policy  # noqa: E402

from wmgym.data.collection import episode_seed  # noqa: E402
from wmgym.episode import run_episode  # noqa: E402
from wmgym.model.ensemble import EnsembleWorldModel  # noqa: E402
from wmgym.model.ensemble_config import ensemble_small  # noqa: E402
from wmgym.policies import make_policy  # noqa: E402
from wmgym.tasks import get_task  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402

CONTEXT = 5
HORIZONS = (1, 5, 15, 25, 50)
VARIANT_KEYS = ("horizon", "hidden", "layers", "members", "batch", "seq_len")
EVAL_SOURCES = (("ou-noise", 0.0), ("random", 0.0), ("sac", 0.3))


def state_episodes(task: str, policy: str, n: int, noise: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` unrendered episodes of ``policy``: (states (T+1, S), actions (T, A)) each."""
    env = TruthEnv(task, obs_mode="state")
    pol = make_policy(policy, env, noise)
    out = []
    for i in range(n):
        ep = run_episode(env, pol, episode_seed(seed, i), rng=np.random.default_rng([seed, i, 1]))
        out.append((np.asarray(ep.obs, np.float32), np.asarray(ep.actions, np.float32)))
    env.close()
    return out


def plan_episodes(task: str, sac: str | None, frames: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """State-only episodes by the task's data plan, every source's count scaled to ``frames`` in all."""
    length = get_task(task).episode_length
    plan = PLANS[task]["data"]
    counts = [n if isinstance(n, int) else None for _, _, n, _, _ in plan]
    if any(c is None for c in counts):
        raise SystemExit(f"{task}'s plan sizes a source by frames or by what is left: give a plan with counts")
    scale = frames / (sum(counts) * (length + 1))
    eps = []
    for k, ((_, policy, _, noise, _), count) in enumerate(zip(plan, counts, strict=True)):
        name, _ = _policy(policy, sac)
        eps += state_episodes(task, name, max(1, round(count * scale)), noise, seed + 101 * k)
    return eps


def _windows(eps, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of seq_len states (and the actions between) inside one episode."""
    s, a = [], []
    for st, ac in eps:
        for t0 in range(0, len(ac) + 1 - seq_len + 1):
            s.append(st[t0 : t0 + seq_len])
            a.append(np.concatenate([np.zeros((1, ac.shape[1]), np.float32), ac[t0 : t0 + seq_len - 1]]))
    return np.stack(s), np.stack(a)


def train_dynamics(
    eps,
    minutes: float,
    seed: int,
    batch: int = 32,
    seq_len: int = 16,
    lr: float = 1e-3,
    decay: float = 0.3,
    bf16: bool = False,
    changes: dict | None = None,
) -> tuple[EnsembleWorldModel, int]:
    """The ensemble's dynamics trained by its open-loop loss alone for ``minutes`` (lr decayed to 0
    over the last ``decay`` of them, as the recipes do), in fp32 or under bf16 autocast."""
    torch.manual_seed(seed)
    states = np.concatenate([s for s, _ in eps])
    cfg = ensemble_small(state_dim=states.shape[1], action_dim=eps[0][1].shape[1], **(changes or {}))
    model = EnsembleWorldModel(cfg)
    model.set_data_statistics(states.mean(0), states.std(0), np.zeros((*cfg.image_size, 3), np.uint8))
    s, a = _windows(eps, seq_len)
    s, a = torch.from_numpy(s), torch.from_numpy(a)
    norm = (s - model.state_mean) / model.state_std
    opt = torch.optim.Adam(model.dynamics.parameters(), lr=lr)
    rng = torch.Generator().manual_seed(seed)
    first = torch.zeros(batch, seq_len, dtype=torch.bool)
    first[:, 0] = True
    start, step, budget = time.perf_counter(), 0, minutes * 60
    while (elapsed := time.perf_counter() - start) < budget:
        frac = (budget - elapsed) / (decay * budget) if decay else 1.0
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, frac)
        idx = torch.randint(len(s), (batch,), generator=rng)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.rollout_loss(norm[idx], a[idx], first)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.dynamics.parameters(), 100.0)
        opt.step()
        step += 1
    return model.eval(), step


@torch.no_grad()
def open_loop_errors(task: str, model: EnsembleWorldModel, eps, horizon: int) -> dict[str, np.ndarray]:
    """Per tolerance, the error (episodes, horizon) of the members' mean rolled open loop from the
    true state after ``CONTEXT`` steps."""
    spec = get_task(task)
    st = torch.from_numpy(np.stack([s[CONTEXT : CONTEXT + horizon + 1] for s, _ in eps]))
    ac = torch.from_numpy(np.stack([a[CONTEXT : CONTEXT + horizon] for _, a in eps]))
    cur = ((st[:, 0] - model.state_mean) / model.state_std).expand(model.cfg.members, -1, -1)
    preds = []
    for t in range(horizon):
        cur = cur + model.dynamics(torch.cat([cur, ac[:, t].expand(model.cfg.members, -1, -1)], -1))
        preds.append(cur.mean(0) * model.state_std + model.state_mean)
    pred = torch.stack(preds, 1).numpy()
    true = st[:, 1:].numpy()
    out = {}
    for tol in spec.trust.tolerances:
        if tol.kind != "state":
            continue
        idx = list(tol.indices)
        out[tol.name] = np.linalg.norm(pred[..., idx] - true[..., idx], axis=-1)
    return out


def trust_horizon(median: np.ndarray, threshold: float) -> int:
    """Steps the median error stays inside ``threshold`` from the first on (the calibration's rule)."""
    bad = np.flatnonzero(median > threshold)
    return int(bad[0]) if len(bad) else len(median)


def _trial(args: tuple) -> dict:
    task, sac, frames, minutes, seed, eval_eps, precision, variant = args
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    eps = plan_episodes(task, sac, frames, seed)
    collect_s = time.perf_counter() - t0
    changes = parse_variant(variant)
    shape = {k: changes.pop(k) for k in ("batch", "seq_len") if k in changes}  # the batch's, not the model's
    model, steps = train_dynamics(eps, minutes, seed, bf16=precision == "bf16", changes=changes, **shape)
    spec = get_task(task)
    tols = {t.name: t.threshold for t in spec.trust.tolerances if t.kind == "state"}
    rows = {}
    for source, err in _eval_errors(task, model, eval_eps).items():
        rows[source] = {
            name: {
                # the horizons asked for that the episodes reach, and the last one they do (reacher: 45)
                "median_by_h": {
                    str(h): float(np.median(e[:, h - 1])) for h in sorted({*HORIZONS, e.shape[1]}) if h <= e.shape[1]
                },
                "trust": trust_horizon(np.median(e, 0), tols[name]),
            }
            for name, e in err.items()
        }
    frames_made = sum(len(s) for s, _ in eps)
    return {
        "frames": frames_made,
        "episodes": len(eps),
        "precision": precision,
        "variant": variant,
        "collect_s": collect_s,
        "steps": steps,
        "eval": rows,
    }


def parse_variant(variant: str) -> dict:
    """``"horizon=31,seq_len=32"`` -> EnsembleConfig changes and the batch's shape (``batch``, ``seq_len``:
    windows per batch and their length; the open-loop loss rolls min(horizon, seq_len - 1) steps), as
    integers; ``""``: the preset at batch 32x16."""
    out = {}
    for part in filter(None, variant.split(",")):
        key, _, value = part.partition("=")
        if key not in VARIANT_KEYS or not value.isdigit():
            raise ValueError(f"a variant is key=value pairs of {', '.join(VARIANT_KEYS)}; got {part!r}")
        out[key] = int(value)
    return out


def _eval_errors(task, model, eval_eps) -> dict[str, dict[str, np.ndarray]]:
    horizon = min(50, min(len(a) for eps in eval_eps.values() for _, a in eps) - CONTEXT)
    out = {src: open_loop_errors(task, model, eps, horizon) for src, eps in eval_eps.items()}
    pooled = {name: np.concatenate([out[src][name] for src in out]) for name in next(iter(out.values()))}
    return {**out, "pooled": pooled}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="pusher", choices=sorted(PLANS))
    p.add_argument("--sac", default=None, help="SB3 SAC .zip behind the plan's sac sources (else OU noise)")
    p.add_argument("--frames", type=int, nargs="+", default=[50_000, 400_000], help="dataset sizes to compare")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes of each (one thread)")
    p.add_argument("--eval-episodes", type=int, default=40, help="held-out episodes per evaluation source")
    p.add_argument("--precision", nargs="+", default=["fp32"], help="fp32 and/or bf16 (autocast): one trial per pair")
    p.add_argument(
        "--variants",
        nargs="+",
        default=[""],
        help='model or batch changes per trial, e.g. horizon=15 hidden=512 horizon=31,seq_len=32 ("": the preset); one trial per combination',
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    if args.task in ("half_cheetah", "hopper"):
        p.error(f"{args.task}'s plan sizes its sources by frames: this pilot takes plans that count episodes")
    start = time.perf_counter()
    eval_eps = {}
    for k, (policy, noise) in enumerate(EVAL_SOURCES):
        name, _ = _policy(policy, args.sac)
        eval_eps[policy] = state_episodes(args.task, name, args.eval_episodes, noise, 9_000 + k)
    if any(x not in ("fp32", "bf16") for x in args.precision):
        p.error(f"--precision takes fp32 and bf16, got {args.precision}")
    for v in args.variants:
        try:
            parse_variant(v)
        except ValueError as e:
            p.error(str(e))
    jobs = [
        (args.task, args.sac, f, args.minutes, args.seed, eval_eps, x, v)
        for v in args.variants
        for x in args.precision
        for f in args.frames
    ]
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        trials = pool.map(_trial, jobs)
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "task": args.task,
        "minutes": args.minutes,
        "wall_s": time.perf_counter() - start,
        "trials": trials,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"dynamics_data_{args.task}" + ("" if args.precision == ["fp32"] else "_" + "_".join(args.precision))
    if args.variants != [""]:
        name += "_" + "_".join(v.replace("=", "").replace(",", "-") or "preset" for v in args.variants)
    stem = args.results / name
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(_markdown(result))
    print(stem.with_suffix(".md").read_text())


def _markdown(r: dict) -> str:
    lines = [
        f"# The dynamics alone, open loop, by state-only data: {r['task']}",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}; {r['minutes']} minutes of training each, one thread, side by side; "
        f"{r['wall_s'] / 60:.1f} minutes wall.",
        "",
        "The dynamics of `ensemble-small` (5 MLPs 2x256, 10-step open-loop loss, batch 32x16, lr 1e-3 "
        "decayed over the last 30%; fp32, or bf16 autocast) on unrendered episodes of the task's data plan, rolled open loop "
        f"(members' mean) from the true state after {CONTEXT} steps over held-out episodes of each source. "
        "Median error by horizon; trust = steps the median stays inside the task's tolerance.",
        "",
    ]
    names = list(next(iter(r["trials"][0]["eval"].values())))
    for name in names:
        hs = list(next(iter(r["trials"][0]["eval"].values()))[name]["median_by_h"])
        lines += [
            f"## {name}",
            "",
            "| frames | precision | model | steps | source | " + " | ".join(f"h={h}" for h in hs) + " | trust |",
            "|---:|---|---|---:|---|" + "---:|" * (len(hs) + 1),
        ]
        for t in r["trials"]:
            for src, row in t["eval"].items():
                med = row[name]["median_by_h"]
                lines.append(
                    f"| {t['frames']:,} | {t.get('precision', 'fp32')} | {t.get('variant') or 'preset'} | "
                    f"{t['steps']:,} | {src} | "
                    + " | ".join(f"{med[h]:.4f}" for h in hs)
                    + f" | {row[name]['trust']} |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
