"""Active calibration: find where a model errs or disagrees most, collect MuJoCo data there,
fine-tune, and measure again."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from wmgym.calibrate.rollouts import dream_open_loop, state_sweep
from wmgym.calibrate.run import CARD, CalibrationConfig, check_out, write_calibration
from wmgym.data import collect
from wmgym.dream.loading import load_dream
from wmgym.tasks import get_task
from wmgym.train import TrainConfig, train
from wmgym.zoo import resolve


def weak_starts(model, cfg: CalibrationConfig, n: int, candidates: int, seed: int) -> tuple[np.ndarray, dict]:
    """The ``n`` of ``candidates`` open-loop starts where the model does worst: ranked by its error
    against MuJoCo (each state tolerance's error over its threshold) plus its own disagreement.
    Returns their MuJoCo states and a summary of the scores."""
    wm, saved, _, _ = load_dream(model, cfg.device)
    spec = get_task(saved.name)
    sweep = state_sweep(
        spec, cfg.behaviour, candidates, seed, cfg.context, cfg.horizon, cfg.physics_backend, cfg.perturbation
    )
    starts, true, valid = sweep["start_physics"], sweep["state"], sweep["valid"]
    pred = dream_open_loop(wm, sweep["context"], sweep["action"], pixels=False)
    tols = [t for t in spec.trust.tolerances if t.kind == "state"]
    if tols:
        per_step = np.max(
            [
                np.linalg.norm(pred["state"][..., list(t.indices)] - true[..., list(t.indices)], axis=-1) / t.threshold
                for t in tols
            ],
            axis=0,
        )
    else:
        per_step = np.sqrt(((pred["state"] - true) ** 2).mean(-1))
    err = np.nanmean(np.where(valid, per_step, np.nan), axis=1)
    unc = np.nanmean(np.where(valid, pred["uncertainty"], np.nan), axis=1)
    rank = lambda x: np.argsort(np.argsort(x)) / max(len(x) - 1, 1)  # noqa: E731
    score = rank(err) + rank(unc)
    pick = np.argsort(-score)[:n]
    return starts[pick], {
        "candidates": len(starts),
        "picked": len(pick),
        "error_picked": float(err[pick].mean()),
        "error_all": float(err.mean()),
        "uncertainty_picked": float(unc[pick].mean()),
        "uncertainty_all": float(unc.mean()),
    }


def improve(
    model: str | Path,
    out: str | Path,
    rounds: int,
    config: CalibrationConfig | None = None,
    minutes: float = 5.0,
    episodes: int = 120,
    lr: float = 2e-4,
    progress: bool = True,
    train_also: tuple[str, ...] = (),
) -> dict:
    """``rounds`` of: measure, pick the weakest starts, collect ``episodes`` MuJoCo episodes (half
    from those starts, half from the env's own resets so nothing else is forgotten), fine-tune for
    ``minutes`` on everything collected so far plus ``train_also`` (e.g. the model's own training
    data, where it is at hand, so that fine-tuning forgets less). The final card (``out/card.json``)
    holds the measurement before and after each round.
    Each round's data, run and card stay in ``out/round<r>/``: an interrupted run loses nothing.

    Raises:
        FileExistsError: ``out`` exists and is not empty.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    cfg = config or CalibrationConfig()
    out = Path(out)
    check_out(out, cards=())  # every calibration below writes into a folder of out's
    spec_name = load_dream(model, cfg.device)[1].name
    history = [_summary(write_calibration(model, out / "round0", cfg, progress=progress), "before")]
    current, data = str(resolve(model)), []
    for r in range(1, rounds + 1):
        folder = out / f"round{r}"
        starts, found = weak_starts(current, cfg, episodes // 2, 4 * episodes, cfg.seed + 200_000 + 1000 * r)
        if progress:
            print(f"round {r}: collecting where the model errs: {found}", flush=True)
        seed = cfg.seed + 300_000 + 1000 * r
        data.append(
            collect(
                spec_name,
                episodes // 2,
                folder / "data-targeted",
                policy="ou-noise",
                seed=seed,
                workers=2,
                progress=progress,
                start_states=starts,
                perturbation=cfg.perturbation,
            ).out
        )
        data.append(
            collect(
                spec_name,
                episodes - episodes // 2,
                folder / "data-replay",
                policy="ou-noise",
                seed=seed + 1,
                workers=2,
                progress=progress,
                perturbation=cfg.perturbation,
            ).out
        )
        train(
            [str(d) for d in data] + [str(d) for d in train_also],
            folder / "run",
            TrainConfig(init_from=current, minutes=minutes, lr=lr, eval_every=10**9),
            progress=progress,
        )
        current = str(folder / "run" / "checkpoint")
        last = r == rounds
        card = write_calibration(
            current, out if last else folder, replace(cfg, videos=last and cfg.videos), progress=progress
        )
        history.append(
            {**_summary(card, f"after round {r}"), "weak_starts": found, "data": [str(d) for d in data[-2:]]}
        )
    md = _markdown(history, minutes, episodes)
    card["improve"] = {
        "train_also": [str(d) for d in train_also],
        "rounds": rounds,
        "minutes_per_round": minutes,
        "episodes_per_round": episodes,
        "history": history,
        "model": current,
    }
    (out / CARD).write_text(json.dumps(card, indent=2, default=_default) + "\n")
    with open(out / "report.md", "a") as f:
        f.write("\n## Active calibration (wmgym improve)\n\n" + "\n".join(md) + "\n")
    return card


def _summary(card: dict, label: str) -> dict:
    by_h = card["by_horizon"]
    last = max(by_h, key=int)
    ret = card.get("returns") or {}
    return {
        "label": label,
        "trust_horizon": card["trust_horizon"]["steps"],
        "criteria": {n: c["horizon"] for n, c in card["trust_horizon"]["criteria"].items()},
        "psnr_moving_h1": by_h["1"]["psnr_moving"],
        f"state_rmse_h{last}": by_h[last]["state_rmse"],
        "tolerance_median_h5": by_h.get("5", by_h["1"])["tolerance_median"],
        "reward_mae": card["reward"]["mae"],
        "uncertainty_spearman": card["uncertainty"]["spearman_pooled"],
        "returns_spearman": ret.get("spearman"),
    }


def _markdown(history: list[dict], minutes: float, episodes: int) -> list[str]:
    keys = [k for k in history[0] if k not in ("label", "criteria", "tolerance_median_h5")]
    lines = [
        f"Each round: {episodes} new MuJoCo episodes (half from the starts where the model erred or disagreed most), "
        f"{minutes:g} minutes of fine-tuning, then the same measurement.",
        "",
        "| | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for h in history:
        lines.append(f"| {h['label']} | " + " | ".join(_cell(h.get(k)) for k in keys) + " |")
    return lines


def _cell(v) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x))
