"""Where a reacher model's robot-pixel error comes from: its renderer, or its dynamics' drift.

The calibration's pixel criterion (PSNR over the robot's and target's pixels, median over the rendered
paired rollouts) mixes two errors: the renderer drawing a latent imperfectly, and the dynamics
putting the arm in the wrong place. This replays the calibration's own rendered pairs (the same
policies, seeds, context and horizon as `benchmarks/calibration.py`) and scores three pictures
against MuJoCo's frames:

- the dream's frames, as the calibration scores them;
- the model's renderer drawing the *true* state (no drift: the renderer's own error);
- MuJoCo drawing the model's *predicted* state (a perfect renderer: the drift's own error).

If the third row misses the tolerance, no renderer passes it: the dynamics must drift less.

    python benchmarks/pixel_error_sources.py --model reacher --policies-dir runs/policies

Reacher only: its observation holds the whole pose (cos/sin of both joints, the target's x, y), so a
predicted state maps back to MuJoCo's qpos. Results: benchmarks/results/pixel_error_sources_<name>.md (.json).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import tyro

sys.path.insert(0, str(Path(__file__).parent))
from calibration import policies_for  # noqa: E402

from wmgym.calibrate.run import CalibrationConfig, _rendered_pairs, _truth_spec  # noqa: E402
from wmgym.dream.loading import load_dream  # noqa: E402
from wmgym.metrics import psnr  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402

HORIZONS = (1, 5, 15, 25, 40, 45, 48, 49, 50)


def reacher_qpos(state: np.ndarray) -> np.ndarray:
    """Reacher-v5 observations (..., 10) -> qpos (..., 4): both joint angles, the target's x and y."""
    angles = np.arctan2(state[..., 2:4], state[..., 0:2])
    return np.concatenate([angles, state[..., 4:6]], -1)


def draw_states(spec, states: np.ndarray) -> np.ndarray:
    """MuJoCo's frames (N, T, H, W, 3) of Reacher observations (N, T, 10), velocities zero."""
    import mujoco

    env = TruthEnv(spec, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        qpos = reacher_qpos(states)
        out = np.empty((*states.shape[:2], *spec.image_size, 3), np.uint8)
        for i in np.ndindex(*states.shape[:2]):
            env.data.qpos[:] = qpos[i]
            env.data.qvel[:] = 0.0
            mujoco.mj_forward(env.model, env.data)
            out[i] = env.render()
        return out
    finally:
        env.close()


@torch.no_grad()
def render_true(wm, states: np.ndarray) -> np.ndarray:
    """The model's renderer drawing true observations (N, T, S): uint8 frames (N, T, H, W, 3)."""
    s = wm._norm_state(torch.as_tensor(states, dtype=torch.float32))[..., wm.input_index]
    latent = wm._latent(s, s, torch.zeros(*s.shape[:-1], wm.cfg.action_dim))
    return wm.frames(latent).numpy()


def main(
    model: str = "reacher",
    policies_dir: Path | None = None,
    results: Path = Path(__file__).parent / "results",
    name: str | None = None,
) -> dict:
    """Score the three pictures of `model`'s calibration pairs (SAC policies from `policies_dir`, as
    `benchmarks/calibration.py --policies-dir`); write pixel_error_sources_<name>.md and .json."""
    torch.set_num_threads(1)
    wm, saved_spec, _, _ = load_dream(model, "cpu")
    spec = _truth_spec(saved_spec, None)  # the task's current spec, trust tolerances included (as calibrate)
    if spec.name != "reacher":
        raise SystemExit(f"{model} is a {spec.name} model: this benchmark maps states back to poses for reacher only")
    if getattr(wm, "encoder", True) is not None or len(wm.input_index) != wm.cfg.state_dim:
        raise SystemExit(f"{model} is not a full-state ensemble: its renderer cannot draw a true state alone")
    wm.eval()
    cfg = replace(CalibrationConfig(), policies=tuple(policies_for("reacher", policies_dir)))
    start = time.perf_counter()
    truth, pred = _rendered_pairs(wm, spec, cfg, progress=True)
    k = truth.context
    true_px, true_state = truth.pixels[:, k + 1 :], truth.state[:, k + 1 :]
    tol = next(t for t in spec.trust.tolerances if t.kind == "pixels")
    pictures = {
        "dream (as calibrated)": pred["pixels"],
        "renderer draws the true state": render_true(wm, true_state),
        "MuJoCo draws the predicted state": draw_states(spec, pred["state"]),
    }
    rows = {}
    source = np.asarray(truth.source)
    for label, frames in pictures.items():
        score = np.where(truth.valid, psnr(frames, true_px, truth.moving), np.nan)
        median = np.nanmedian(score, 0)
        below = np.flatnonzero(median < tol.threshold)
        rows[label] = {
            "median_by_h": {str(h): float(median[h - 1]) for h in HORIZONS if h <= len(median)},
            "inside_for": int(below[0]) if len(below) else len(median),
            # the last step's score of each source's rollouts: which behaviour sits near the median
            "last_step_by_source": {
                src: float(np.nanmedian(score[source == src, -1])) for src in dict.fromkeys(source)
            },
        }
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "model": str(model),
        "rollouts": int(len(true_px)),
        "context": int(k),
        "horizon": int(true_px.shape[1]),
        "tolerance_db": tol.threshold,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    results.mkdir(parents=True, exist_ok=True)
    stem = results / f"pixel_error_sources_{name or Path(str(model)).name}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(stem.with_suffix(".md").read_text())
    return result


def markdown(r: dict) -> str:
    hs = list(next(iter(r["rows"].values()))["median_by_h"])
    lines = [
        f"# Where the robot-pixel error comes from: {r['model']}",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}; {r['rollouts']} rendered paired rollouts of the calibration (its policies, seeds, "
        f"{r['context']} context steps, {r['horizon']} open-loop), {r['seconds']:.0f} s.",
        "",
        "Median PSNR (dB) over the robot's and target's pixels by horizon; `inside for` = steps the median "
        f"stays at or above the calibration's {r['tolerance_db']:g} dB (the pixel criterion without its baselines).",
        "",
        "| picture | " + " | ".join(f"h={h}" for h in hs) + " | inside for |",
        "|---|" + "---:|" * (len(hs) + 1),
    ]
    for label, row in r["rows"].items():
        med = row["median_by_h"]
        lines.append(f"| {label} | " + " | ".join(f"{med[h]:.2f}" for h in hs) + f" | {row['inside_for']} |")
    sources = list(next(iter(r["rows"].values()))["last_step_by_source"])
    lines += [
        "",
        f"At the last step (h={hs[-1]}), the median over each source's rollouts:",
        "",
        "| picture | " + " | ".join(sources) + " |",
        "|---|" + "---:|" * len(sources),
    ]
    for label, row in r["rows"].items():
        lines.append(f"| {label} | " + " | ".join(f"{row['last_step_by_source'][s]:.2f}" for s in sources) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    tyro.cli(main)
