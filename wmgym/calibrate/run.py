"""`calibrate`: measure a world model against MuJoCo and write its calibration card and report."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from wmgym.calibrate.returns import correlation, policy_returns
from wmgym.calibrate.rollouts import TruthBatch, dream_open_loop, record_truth, state_sweep, truth_from_dataset
from wmgym.dream.loading import load_dream
from wmgym.dream.vector_env import DreamVectorEnv
from wmgym.metrics import interval_coverage, pearson, precision_recall, psnr, spearman, ssim, trust_horizon
from wmgym.tasks import TaskSpec, get_task

CARD = "card.json"
REPORT_HORIZONS = (1, 5, 15, 50)


@dataclass
class CalibrationConfig:
    """What `calibrate` measures, and on how much data."""

    episodes: int = 32
    """Rendered paired rollouts (pixels and state), split over the behaviour policies and ``policies``."""
    state_episodes: int = 128
    """More paired rollouts for state error and uncertainty, ground truth from ``mujoco.rollout``."""
    horizon: int = 50
    """Open-loop steps after the context."""
    context: int = 4
    """Real steps the model filters before it predicts (K; K+1 frames)."""
    behaviour: tuple[str, ...] = ("ou-noise", "random")
    """Action sources of the open-loop pairs (state-independent, so the state sweep can batch them)."""
    policies: tuple[str, ...] = ()
    """SB3 ``.zip`` policies (``@NOISE`` suffix for action noise): their closed-loop actions in MuJoCo
    are replayed in the dream, and they join the policy-level comparison."""
    policy_episodes: int = 8
    """Episodes per policy for the dream-vs-MuJoCo return comparison (0: skip it)."""
    policy_steps: int | None = None
    """Steps per policy episode after the context (default: the task's episode length minus context)."""
    baseline_policies: tuple[str, ...] = ("random", "zero", "ou-noise")
    """Policies always in the return comparison."""
    data: tuple[str, ...] = ()
    """Datasets whose episodes are also paired (held-out data, e.g. the model's own evaluation set)."""
    physics_backend: str = "auto"
    """Batched truth for the state-only pairs: ``mujoco`` (``mujoco.rollout``), ``mjx``, or ``auto``
    (MJX where there is a CUDA GPU that JAX sees)."""
    seed: int = 10_000
    """Seeds of the truth episodes (kept away from the collection seeds of the zoo's data)."""
    device: str = "cpu"
    videos: bool = True
    extra: dict = field(default_factory=dict)


def calibrate(model: str | Path, out: str | Path, config: CalibrationConfig | None = None, task=None, progress=True):
    """Pair ``model`` (a zoo name or checkpoint folder) with MuJoCo; write ``out/card.json``,
    ``out/report.md`` with PNG plots, and mp4s of the worst and a typical rollout. Returns the card.

    ``task`` (a name or TaskSpec) checks that the truth side is the task the model was trained on.
    """
    cfg = config or CalibrationConfig()
    if cfg.horizon < 1 or cfg.context < 1 or cfg.episodes < 1:
        raise ValueError(
            f"horizon, context and episodes must be >= 1; got {cfg.horizon}, {cfg.context}, {cfg.episodes}"
        )
    out = Path(out)
    wm, saved_spec, action_space, bank = load_dream(model, cfg.device)
    spec = _truth_spec(saved_spec, task)
    wm.eval()
    start = time.perf_counter()
    sources = list(cfg.behaviour) + list(cfg.policies)
    per = math.ceil(cfg.episodes / len(sources))
    batches = []
    with tqdm(total=per * len(sources), desc="paired rollouts (rendered)", disable=not progress, mininterval=1) as bar:
        for i, src in enumerate(sources):
            batches.append(record_truth(spec, src, per, cfg.seed + 1000 * i, cfg.context, cfg.horizon, bar))
    for path in cfg.data:
        from wmgym.data import load_episodes

        batches.append(truth_from_dataset(spec, load_episodes(path)[1], cfg.context, cfg.horizon))
    truth = TruthBatch.concat(batches)
    pred = dream_open_loop(wm, truth.context_bank(), truth.action[:, cfg.context :])
    fidelity = _fidelity(spec, wm, truth, pred, cfg)

    sweep = None
    if cfg.state_episodes:
        if progress:
            print(f"state sweep: {cfg.state_episodes} open-loop pairs through mujoco.rollout", flush=True)
        sweep = state_sweep(
            spec, cfg.behaviour, cfg.state_episodes, cfg.seed + 50_000, cfg.context, cfg.horizon, cfg.physics_backend
        )
        sweep["pred"] = dream_open_loop(wm, sweep["context"], sweep["action"], pixels=False)
    state = _state_metrics(spec, truth, pred, sweep)
    uncertainty = _uncertainty(truth, pred, sweep)
    trust = _trust(spec, fidelity, state, cfg.horizon)

    returns = None
    if cfg.policy_episodes:
        steps = cfg.policy_steps or spec.episode_length - cfg.context
        dream = DreamVectorEnv(
            wm,
            saved_spec.replace(episode_length=steps),
            action_space,
            bank,
            num_envs=cfg.policy_episodes,
            autoreset=False,
        )
        results = []
        pols = list(cfg.baseline_policies) + list(cfg.policies)
        for i, p in enumerate(tqdm(pols, desc="policy returns", disable=not progress, mininterval=1)):
            results.append(
                policy_returns(dream, p, cfg.policy_episodes, cfg.seed + 100_000 + 1000 * i, cfg.context, steps)
            )
        returns = {"steps": steps, "by_policy": results, **(correlation(results) if len(results) >= 3 else {})}

    card = {
        "model": str(model),
        "task": spec.name,
        "date": time.strftime("%Y-%m-%d"),
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items() if k != "extra"},
        "episodes": {
            "rendered": len(truth),
            "state_sweep": 0 if sweep is None else len(sweep["state"]),
            "sources": sorted(set(truth.source)),
        },
        "trust_horizon": trust,
        "by_horizon": {str(h): _row(fidelity, state, h) for h in REPORT_HORIZONS if h <= cfg.horizon},
        "reward": fidelity["reward"],
        "termination": fidelity.get("termination"),
        "uncertainty": uncertainty,
        "returns": returns,
        "seconds": round(time.perf_counter() - start, 1),
        **cfg.extra,
    }
    out.mkdir(parents=True, exist_ok=True)
    from wmgym.calibrate.report import write_report

    card["files"] = write_report(out, card, spec, truth, pred, fidelity, state, sweep, videos=cfg.videos)
    card = _jsonable(card)
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _truth_spec(saved: TaskSpec, task) -> TaskSpec:
    """The registered spec of the model's task (it carries the tolerances), checked against ``task``."""
    if task is not None:
        want = get_task(task)
        if want != saved:
            diff = [k for k in saved.to_dict() if k != "trust" and saved.to_dict()[k] != want.to_dict()[k]]
            raise ValueError(
                f"the model was trained on task {saved.name!r} and cannot be calibrated against the truth env of "
                f"task {want.name!r} (differs in: {', '.join(diff)}); pass the model's own task or none"
            )
    try:
        registered = get_task(saved.name)
    except (KeyError, ValueError):
        return saved
    return registered if registered == saved else saved


def _nan_where(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, x, np.nan)


def _fidelity(spec: TaskSpec, wm, truth: TruthBatch, pred: dict, cfg: CalibrationConfig) -> dict:
    k = cfg.context
    true_px = truth.pixels[:, k + 1 :]
    repeat = np.broadcast_to(truth.pixels[:, k : k + 1], true_px.shape)
    background = np.broadcast_to(wm.background_frame().cpu().numpy(), true_px.shape)
    v = truth.valid
    f = {
        "psnr": _nan_where(psnr(pred["pixels"], true_px), v),
        "psnr_repeat_last": _nan_where(psnr(repeat, true_px), v),
        "psnr_background": _nan_where(psnr(background, true_px), v),
        "psnr_moving": _nan_where(psnr(pred["pixels"], true_px, truth.moving), v),
        "psnr_moving_repeat_last": _nan_where(psnr(repeat, true_px, truth.moving), v),
        "psnr_moving_background": _nan_where(psnr(background, true_px, truth.moving), v),
        "ssim": _nan_where(ssim(pred["pixels"], true_px), v),
    }
    true_r, pred_r = truth.reward[:, k:], pred["reward"]
    f["reward_abs_err"] = _nan_where(np.abs(pred_r - true_r), v)
    f["reward"] = {"mae": float(np.nanmean(f["reward_abs_err"])), "pearson": pearson(pred_r[v], true_r[v])}
    if spec.terminates:
        term = truth.terminated[:, k:]
        # over the valid steps: every step before the episode ended, and the terminal one
        p, r = precision_recall(pred["terminated"][v], term[v])
        f["termination"] = {"precision": p, "recall": r, "true_terminations": int(term[v].sum())}
    return f


def _state_metrics(spec: TaskSpec, truth: TruthBatch, pred: dict, sweep) -> dict:
    """Per-(episode, horizon) errors: RMSE per state component and each state tolerance's norm."""
    true_s, pred_s, valid = truth.state[:, truth.context + 1 :], pred["state"], truth.valid
    last = truth.state[:, truth.context]
    if sweep is not None:
        true_s = np.concatenate([true_s, sweep["state"]])
        pred_s = np.concatenate([pred_s, sweep["pred"]["state"]])
        valid = np.concatenate([valid, sweep["valid"]])
        last = np.concatenate([last, sweep["context"].state[:, -1]])
    diff = pred_s - true_s
    still = last[:, None] - true_s  # the baseline: the robot frozen at the last context frame
    comps = spec.trust.components or ()
    out = {
        "components": {},
        "tolerances": {},
        "tolerances_repeat_last": {},
        "all_rmse": _nan_where(np.sqrt(np.mean(diff**2, -1)), valid),
    }
    for c in comps:
        out["components"][c.name] = _nan_where(np.sqrt(np.mean(diff[..., c.start : c.stop] ** 2, -1)), valid)
    for t in spec.trust.tolerances:
        if t.kind == "state":
            out["tolerances"][t.name] = _nan_where(np.linalg.norm(diff[..., list(t.indices)], axis=-1), valid)
            rep = np.linalg.norm(still[..., list(t.indices)], axis=-1)
            out["tolerances_repeat_last"][t.name] = _nan_where(rep, valid)
    return out


def _uncertainty(truth: TruthBatch, pred: dict, sweep) -> dict:
    """Does the per-step uncertainty rank the actual error? Error = state RMSE in units of each
    entry's spread (so no entry dominates); pooled over steps, and within each horizon."""
    unc = [pred["uncertainty"]]
    true_s, pred_s, valid = [truth.state[:, truth.context + 1 :]], [pred["state"]], [truth.valid]
    if sweep is not None:
        unc.append(sweep["pred"]["uncertainty"])
        true_s.append(sweep["state"]), pred_s.append(sweep["pred"]["state"])
        valid.append(sweep["valid"])
    unc, true_s, pred_s, valid = (np.concatenate(x) for x in (unc, true_s, pred_s, valid))
    scale = true_s[valid].std(0) + 1e-6
    err = np.sqrt(np.mean(((pred_s - true_s) / scale) ** 2, -1))
    per_h = [spearman(unc[:, h][valid[:, h]], err[:, h][valid[:, h]]) for h in range(err.shape[1])]
    return {
        "error": "state RMSE in units of each entry's standard deviation",
        "spearman_pooled": spearman(unc[valid], err[valid]),
        "spearman_within_horizon": float(np.nanmean(per_h)) if np.isfinite(per_h).any() else float("nan"),
        "coverage_90": interval_coverage(unc[valid], err[valid], 0.9),
        "pairs": int(valid.sum()),
        "_per_step": (unc, err, valid),
    }


def _trust(spec: TaskSpec, fidelity: dict, state: dict, horizon: int) -> dict:
    """Trust horizon: per tolerance of the spec, the largest h with every median inside it up to h.

    The baselines are held to the same tolerance: ``baseline_horizons`` says how long repeating
    the last frame (or state), or drawing the static background, would have been "trusted". A
    model earns trust only beyond those; where a baseline fails the tolerance, a model inside it
    beats that baseline by construction."""
    criteria = {}
    for t in spec.trust.tolerances:
        if t.kind == "state":
            med = np.nanmedian(state["tolerances"][t.name], axis=0)
            rep = np.nanmedian(state["tolerances_repeat_last"][t.name], axis=0)
            passes = med <= t.threshold
            baselines = {"repeat_last": trust_horizon(rep <= t.threshold)}
            detail = {"median": [float(x) for x in med], "repeat_last": [float(x) for x in rep]}
        else:
            med = np.nanmedian(fidelity["psnr_moving"], axis=0)
            rep = np.nanmedian(fidelity["psnr_moving_repeat_last"], axis=0)
            bg = np.nanmedian(fidelity["psnr_moving_background"], axis=0)
            passes = med >= t.threshold
            baselines = {
                "repeat_last": trust_horizon(rep >= t.threshold),
                "background": trust_horizon(bg >= t.threshold),
            }
            detail = {
                "median": [float(x) for x in med],
                "repeat_last": [float(x) for x in rep],
                "background": [float(x) for x in bg],
            }
        criteria[t.name] = {
            "kind": t.kind,
            "threshold": t.threshold,
            "unit": t.unit,
            "reason": t.reason,
            "horizon": trust_horizon(passes),
            "baseline_horizons": baselines,
            **detail,
        }
    overall = min((c["horizon"] for c in criteria.values()), default=None)
    return {
        "steps": overall,
        "of": horizon,
        "seconds": None if overall is None else round(overall * spec.action_repeat * _dt(spec), 3),
        "limited_by": min(criteria, key=lambda n: criteria[n]["horizon"]) if criteria else None,
        "criteria": criteria,
    }


def _dt(spec: TaskSpec) -> float:
    from wmgym.physics import BatchedTruth

    bt = BatchedTruth(spec)
    return float(bt.model.opt.timestep) * bt.substeps / spec.action_repeat


def _row(fidelity: dict, state: dict, h: int) -> dict:
    i = h - 1
    med = lambda x: float(np.nanmedian(x[:, i]))  # noqa: E731
    mean = lambda x: float(np.nanmean(x[:, i]))  # noqa: E731
    row = {k: mean(fidelity[k]) for k in ("psnr", "psnr_repeat_last", "psnr_background", "ssim")}
    row.update({k: med(fidelity[k]) for k in ("psnr_moving", "psnr_moving_repeat_last", "psnr_moving_background")})
    row["reward_mae"] = mean(fidelity["reward_abs_err"])
    row["state_rmse"] = mean(state["all_rmse"])
    row["state_rmse_by_component"] = {n: mean(v) for n, v in state["components"].items()}
    row["tolerance_median"] = {n: med(v) for n, v in state["tolerances"].items()}
    return row


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x
