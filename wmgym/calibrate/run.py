"""`calibrate`: measure a world model against MuJoCo and write its calibration card and report."""

from __future__ import annotations

import json
import math
import numbers
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from wmgym.calibrate.returns import correlation, policy_returns
from wmgym.calibrate.rollouts import TruthBatch, dream_open_loop, record_truth, state_sweep, truth_from_dataset
from wmgym.dream.loading import load_dream
from wmgym.dream.vector_env import DreamVectorEnv
from wmgym.jsonfile import read_object, written_by
from wmgym.metrics import (
    interval_coverage,
    limiting_criterion,
    pearson,
    precision_recall,
    psnr,
    spearman,
    ssim,
    trust_horizon,
)
from wmgym.policies import parse_policy
from wmgym.tasks import TaskSpec, get_task
from wmgym.truth.perturb import load as load_perturbation

CARD = "card.json"
MARKER = {"wmgym": "calibration"}
"""In every card `calibrate` writes: a folder whose card.json holds it may be overwritten."""
REPORT_HORIZONS = (1, 5, 15, 50)
_STATE_FREE = ("random", "zero", "ou-noise", "ou")
_BACKENDS = ("auto", "mujoco", "mjx")


@dataclass(frozen=True)
class CalibrationConfig:
    """What `calibrate` measures, and on how much data.

    Raises:
        ValueError: a count or length out of range, an unknown policy name or physics backend.
    """

    episodes: int = 128
    """Rendered paired rollouts (pixels and state), split over the behaviour policies and ``policies``.
    The trust horizon reads their median error at each step, and a median of few rollouts is noisy where
    a model crosses a tolerance late and slowly: reacher's shipped model over six truth seeds gave 41-49
    steps with 32 rollouts, 43-47 with 128 (benchmarks/results/trust_spread.md)."""
    state_episodes: int = 128
    """More paired rollouts for state error and uncertainty, ground truth from ``mujoco.rollout``
    (split over the behaviour policies; 0: skip them)."""
    horizon: int = 50
    """Open-loop steps after the context."""
    context: int = 4
    """Real steps the model filters before it predicts (K; K+1 frames)."""
    behaviour: tuple[str, ...] = ("ou-noise", "random")
    """Action sources of the open-loop pairs: ``random``, ``zero``, ``ou-noise`` (state-independent,
    so the state sweep can draw their actions in advance)."""
    policies: tuple[str, ...] = ()
    """SB3 .zip policies (suffix @NOISE for action noise), replayed in the dream and compared; loading one runs its code."""
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
    """Torch device of the world model (``cpu``, ``cuda``, ``cuda:1``, ...)."""
    videos: bool = True
    """Write mp4s of the worst and a typical rendered rollout (truth | dream | error)."""
    perturbation: str | None = None
    """Measure against this "real robot" instead of nominal MuJoCo: a variant of the model's task
    (``wmgym perturbations``) or a .json perturbation spec (`wmgym.truth.perturb`)."""

    def __post_init__(self):
        _check_counts(self)
        _check_policies(self)
        if self.physics_backend not in _BACKENDS:
            raise ValueError(f"physics_backend must be one of {', '.join(_BACKENDS)}, got {self.physics_backend!r}")


def _check_counts(cfg: CalibrationConfig) -> None:
    for name, low in (("episodes", 1), ("horizon", 1), ("context", 1), ("state_episodes", 0), ("policy_episodes", 0)):
        _at_least(cfg, name, low)
    if cfg.policy_steps is not None:
        _at_least(cfg, "policy_steps", 1)
    if 0 < cfg.state_episodes < len(cfg.behaviour):
        raise ValueError(
            f"state_episodes ({cfg.state_episodes}) are split over the {len(cfg.behaviour)} behaviour "
            "policies: use at least one per policy, or 0 to skip the state sweep"
        )


def _at_least(cfg: CalibrationConfig, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_policies(cfg: CalibrationConfig) -> None:
    if not cfg.behaviour:
        raise ValueError("behaviour needs at least one policy, e.g. ('ou-noise', 'random')")
    for name in cfg.behaviour:
        if parse_policy(name)[0] not in _STATE_FREE:
            raise ValueError(f"behaviour {name!r}: use {', '.join(_STATE_FREE[:3])} (their actions ignore the state)")
    for name in (*cfg.policies, *cfg.baseline_policies):
        parse_policy(name)  # a bad @NOISE suffix fails now, not after the rendered rollouts


def calibrate(model: str | Path, out: str | Path, config: CalibrationConfig | None = None, task=None, progress=True):
    """Pair ``model`` with MuJoCo and write its calibration card and report into ``out``.

    Args:
        model: a zoo name or a checkpoint folder.
        out: the folder for ``card.json``, ``report.md`` with PNG plots, and mp4s of the worst and a
            typical rollout. Missing, empty, or holding an earlier calibration (which is replaced).
        config: what to measure (default: `CalibrationConfig()`).
        task: a task name or TaskSpec, to check that the truth side is the task the model was
            trained on (default: the model's own).
        progress: show progress bars.

    Returns:
        The card, as written to ``out/card.json``.

    Raises:
        FileExistsError: ``out`` holds files that a calibration did not write.
        NoTruthError: the model was trained on recorded data (a task with no MuJoCo env).
    """
    out = Path(out)
    check_out(out)
    return write_calibration(model, out, config or CalibrationConfig(), task, progress)


def check_out(out: Path, cards: tuple[str, ...] = (CARD,)) -> None:
    """Refuse an ``out`` that is neither missing, nor empty, nor an earlier calibration's folder (one
    of ``cards`` in it holds `MARKER`; none given: only a missing or empty folder will do), so that a
    user's files are never overwritten.

    Raises:
        FileExistsError: ``out`` is a file, or a folder that wmgym did not write.
    """
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if out.is_dir() and any(_is_calibration(out / c) for c in cards):
        return
    what = f"is not an earlier calibration's folder (no {CARD} written by wmgym)" if cards else "is not empty"
    raise FileExistsError(
        f"{out} exists and {what}; refusing to overwrite what is there. "
        "Choose another --out (or remove that folder yourself)."
    )


def _is_calibration(card: Path) -> bool:
    return written_by(card, MARKER["wmgym"])


def write_calibration(model: str | Path, out: Path, cfg: CalibrationConfig, task=None, progress=True) -> dict:
    """`calibrate` without the check of ``out`` (for `wmgym.calibrate.improve`, which checked its
    own folder first): measure, then write the card and report."""
    wm, saved_spec, action_space, bank = load_dream(model, cfg.device)
    saved_spec.require_truth(f"cannot calibrate {model} against MuJoCo")  # recorded data: no MuJoCo to meet
    spec = _truth_spec(saved_spec, task)
    robot = load_perturbation(cfg.perturbation, spec.name)  # a bad name fails before any rollout
    wm.eval()
    start = time.perf_counter()
    truth, pred = _rendered_pairs(wm, spec, cfg, progress, robot)
    sweep = _state_sweep(wm, spec, cfg, progress, robot)
    returns = _returns((wm, saved_spec, action_space, bank), spec, cfg, progress, robot)
    fidelity, state = _fidelity(spec, wm, truth, pred), _state_metrics(spec, truth, pred, sweep)
    card = {
        **_header(model, spec, cfg, truth, sweep),
        "perturbation": None if robot is None else robot.to_dict(),
        **_metrics(spec, truth, pred, sweep, fidelity, state),
        "returns": returns,
        "seconds": round(time.perf_counter() - start, 1),
    }
    return _write(out, card, spec, truth, pred, fidelity, state, sweep, cfg.videos)


def _rendered_pairs(wm, spec: TaskSpec, cfg: CalibrationConfig, progress: bool, robot=None) -> tuple[TruthBatch, dict]:
    """The rendered truth episodes (each behaviour and SB3 policy, then any datasets) of the nominal
    or the ``robot`` MuJoCo and the model's open-loop prediction of them."""
    sources = list(cfg.behaviour) + list(cfg.policies)
    per = math.ceil(cfg.episodes / len(sources))
    batches = []
    with tqdm(total=per * len(sources), desc="paired rollouts (rendered)", disable=not progress, mininterval=1) as bar:
        for i, src in enumerate(sources):
            batches.append(record_truth(spec, src, per, cfg.seed + 1000 * i, cfg.context, cfg.horizon, bar, robot))
    for path in cfg.data:
        from wmgym.data import dataset_perturbation, load_episodes

        recorded = dataset_perturbation(path)  # a dataset of a perturbed robot replays in that robot
        batches.append(truth_from_dataset(spec, load_episodes(path)[1], cfg.context, cfg.horizon, recorded))
    truth = TruthBatch.concat(batches)
    return truth, dream_open_loop(wm, truth.context_bank(), truth.action[:, cfg.context :])


def _state_sweep(wm, spec: TaskSpec, cfg: CalibrationConfig, progress: bool, robot=None) -> dict | None:
    """The state-only pairs with the model's prediction under ``pred`` (None if ``state_episodes`` is 0)."""
    if not cfg.state_episodes:
        return None
    if progress:
        print(f"state sweep: {cfg.state_episodes} open-loop pairs through mujoco.rollout", flush=True)
    sweep = state_sweep(
        spec, cfg.behaviour, cfg.state_episodes, cfg.seed + 50_000, cfg.context, cfg.horizon, cfg.physics_backend, robot
    )
    sweep["pred"] = dream_open_loop(wm, sweep["context"], sweep["action"], pixels=False)
    return sweep


def _returns(dream: tuple, spec: TaskSpec, cfg: CalibrationConfig, progress: bool, robot=None) -> dict | None:
    """Every policy's returns in MuJoCo and in the dream (``dream``: what `load_dream` returned), and
    their correlation across policies (None if ``policy_episodes`` is 0)."""
    if not cfg.policy_episodes:
        return None
    wm, saved_spec, action_space, bank = dream
    steps = cfg.policy_steps or spec.episode_length - cfg.context
    env = DreamVectorEnv(
        wm, saved_spec.replace(episode_length=steps), action_space, bank, num_envs=cfg.policy_episodes, autoreset=False
    )
    pols = list(cfg.baseline_policies) + list(cfg.policies)
    results = [
        policy_returns(env, p, cfg.policy_episodes, cfg.seed + 100_000 + 1000 * i, cfg.context, steps, robot)
        for i, p in enumerate(tqdm(pols, desc="policy returns", disable=not progress, mininterval=1))
    ]
    return {"steps": steps, "by_policy": results, **(correlation(results) if len(results) >= 3 else {})}


def _header(model, spec: TaskSpec, cfg: CalibrationConfig, truth: TruthBatch, sweep: dict | None) -> dict:
    """What was measured: the card's marker, model, task, date, settings and episode counts."""
    return {
        **MARKER,
        "model": str(model),
        "task": spec.name,
        "date": time.strftime("%Y-%m-%d"),
        "settings": {f.name: getattr(cfg, f.name) for f in fields(cfg)},
        "episodes": {
            "rendered": len(truth),
            "state_sweep": 0 if sweep is None else len(sweep["state"]),
            "sources": sorted(set(truth.source)),
        },
    }


def _metrics(spec: TaskSpec, truth: TruthBatch, pred: dict, sweep, fidelity: dict, state: dict) -> dict:
    """The card's measurements of the paired rollouts: trust horizon, per-horizon rows, reward,
    termination and uncertainty."""
    horizon = truth.valid.shape[1]
    return {
        "trust_horizon": _trust(spec, fidelity, state, horizon),
        "by_horizon": {str(h): _row(fidelity, state, h) for h in REPORT_HORIZONS if h <= horizon},
        "reward": fidelity["reward"],
        "termination": fidelity.get("termination"),
        "uncertainty": _uncertainty(truth, pred, sweep),
    }


def _write(out: Path, card: dict, spec, truth, pred, fidelity, state, sweep, videos: bool) -> dict:
    """Write the report (plots, videos, report.md) and then ``card.json`` into ``out``; return the card."""
    from wmgym.calibrate.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    card["files"] = write_report(out, card, spec, truth, pred, fidelity, state, sweep, videos=videos)
    card = _jsonable(card)
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _remove_previous(out: Path) -> None:
    """Delete the files an earlier calibration in ``out`` listed in its card, so none is left stale."""
    files = read_object(out / CARD).get("files", {})
    for name in files.values() if isinstance(files, dict) else ():
        path = out / str(name)
        if path.parent == out and path.is_file():
            path.unlink()


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


def _fidelity(spec: TaskSpec, wm, truth: TruthBatch, pred: dict) -> dict:
    """Per-(episode, horizon) pixel and reward errors of the rendered pairs (NaN after an episode
    ended), against the repeat-last-frame and background baselines; reward and termination scores."""
    k = truth.context
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


CONSTANT_SPREAD = 1e-3
"""An entry of the state whose spread over the paired truth states is below this fraction of the
median entry's spread does not vary (Pusher's goal and the object's height: a few micrometres of
solver jitter) and is left out of the error the uncertainty is ranked against."""


def scaled_state_error(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """RMSE over the state's entries (last axis) of pred - truth, each entry in units of its standard
    deviation over the ``valid`` truth states, so that no entry dominates by its units; and the
    entries left out because they do not vary (`CONSTANT_SPREAD`). Kept in, such an entry's error would
    be divided by its jitter: on Pusher the goal's and the object height's float rounding made 99% of
    the "error" and hid how well the uncertainty ranks the arm's (within-horizon Spearman 0.27 -> 0.60 on
    pusher's card, the same model and pairs)."""
    if not valid.any():
        return np.full(valid.shape, np.nan), []
    spread = truth[valid].std(0)
    varies = spread[spread > 0]  # exact constants must not drag the median to 0 (then jitter would count)
    if not varies.size:  # nothing varies (a degenerate set of pairs): the error in the state's own units
        return np.sqrt(np.mean((pred - truth) ** 2, -1)), []
    keep = spread > CONSTANT_SPREAD * np.median(varies)
    diff = (pred[..., keep] - truth[..., keep]) / spread[keep]
    return np.sqrt(np.mean(diff**2, -1)), [int(i) for i in np.flatnonzero(~keep)]


def _uncertainty(truth: TruthBatch, pred: dict, sweep) -> dict:
    """Does the per-step uncertainty rank the actual error? Error = state RMSE in units of each
    entry's spread, entries that do not vary left out (`scaled_state_error`); pooled over steps, and
    within each horizon."""
    unc = [pred["uncertainty"]]
    true_s, pred_s, valid = [truth.state[:, truth.context + 1 :]], [pred["state"]], [truth.valid]
    if sweep is not None:
        unc.append(sweep["pred"]["uncertainty"])
        true_s.append(sweep["state"]), pred_s.append(sweep["pred"]["state"])
        valid.append(sweep["valid"])
    unc, true_s, pred_s, valid = (np.concatenate(x) for x in (unc, true_s, pred_s, valid))
    err, left_out = scaled_state_error(pred_s, true_s, valid)
    per_h = [spearman(unc[:, h][valid[:, h]], err[:, h][valid[:, h]]) for h in range(err.shape[1])]
    return {
        "error": "state RMSE in units of each entry's standard deviation (entries that do not vary left out)",
        "constant_entries": left_out,
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
        "limited_by": limiting_criterion({n: c["horizon"] for n, c in criteria.items()}, horizon),
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
