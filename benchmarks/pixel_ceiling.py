"""How well can a renderer that sees only the observation draw the robot's pixels? MuJoCo against itself.

Run:  python benchmarks/pixel_ceiling.py [--tasks half_cheetah hopper] [--frames 120]

Hopper's and HalfCheetah's observations omit the torso's x (gymnasium's
``exclude_current_positions_from_observation``), yet the tracking camera shows it: the checkered
floor scrolls under the robot. A world model whose latent is the observation cannot know the floor's
phase, and where the robot is thin (a cheetah's legs are 1-2 pixels wide at 64x64) most of its pixels
blend with the floor behind them. This measures the best PSNR such a model can reach on the
calibration's "robot and object pixels" (the truth segmentation's geoms of non-world bodies): truth
frames along random and OU-noise episodes, against the same physics state with only x moved by a
uniform 0.3-3 m (a perfect model of everything the observation holds, blind to the floor's phase),
median over frames, on the whole mask and on its interior (the mask eroded by one pixel). Beside it:
the task's pixel tolerance and the shipped model's moving-pixel PSNR at h=1 (its calibration card).
Writes benchmarks/results/pixel_ceiling.{json,md}.
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

import mujoco  # noqa: E402
from scipy.ndimage import binary_erosion  # noqa: E402

from wmgym.metrics import psnr  # noqa: E402
from wmgym.policies import make_policy  # noqa: E402
from wmgym.tasks import get_task  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402
from wmgym.zoo import ZOO  # noqa: E402

PHASES = 8
"""Floor phases drawn per frame: the first is one guess; their mean is what a renderer trained on
squared error converges to when it cannot know the phase (the blend scores higher than any one guess)."""
ROOT_X = 0
"""qpos index of the torso's x in Hopper's and HalfCheetah's models (their root slide joint)."""


def ceiling(task: str, frames: int, seed: int = 0) -> dict:
    """Median masked PSNR of truth frames against the same states with x moved (see the module doc)."""
    env = TruthEnv(task, render_mode="rgb_array")
    rng = np.random.default_rng(seed)
    moving = np.flatnonzero(env.model.geom_bodyid != 0)
    true, shifted, masks = [], [], []
    try:
        episode = 0
        while len(true) < frames:
            policy = make_policy(("random", "ou-noise")[episode % 2], env)
            policy.reset(np.random.default_rng(seed + episode))
            obs, _ = env.reset(seed=seed + episode)
            for t in range(200):
                obs, _, terminated, truncated, _ = env.step(policy(obs))
                if terminated or truncated or len(true) >= frames:
                    break
                if t % 5:
                    continue
                true.append(env.render().copy())
                masks.append(np.isin(env.render_segmentation(), moving))
                saved = env.get_physics_state()
                phases = []
                for _ in range(PHASES):
                    env.set_physics_state(saved)
                    env.data.qpos[ROOT_X] += rng.uniform(0.3, 3.0)
                    mujoco.mj_forward(env.model, env.data)
                    phases.append(env.render().astype(np.float32))
                shifted.append(np.stack(phases))
                env.set_physics_state(saved)
            episode += 1
    finally:
        env.close()
    true, shifted, masks = np.stack(true), np.stack(shifted), np.stack(masks)
    one, mean = shifted[:, 0].round().astype(np.uint8), shifted.mean(1).round().astype(np.uint8)
    interior = np.stack([binary_erosion(m) for m in masks])
    pixel_tol = [t for t in get_task(task).trust.tolerances if t.kind == "pixels"]
    return {
        "frames": len(true),
        "mask_fraction": float(masks.mean()),
        "interior_share_of_mask": float(interior.sum() / max(masks.sum(), 1)),
        # nanmedian: a frame whose (eroded) mask is empty has no masked PSNR
        "x_blind_psnr_mask": float(np.nanmedian(psnr(one, true, masks))),
        "x_blind_psnr_interior": float(np.nanmedian(psnr(one, true, interior))),
        "x_blind_psnr_full_frame": float(np.nanmedian(psnr(one, true))),
        "x_blind_mean_psnr_mask": float(np.nanmedian(psnr(mean, true, masks))),
        "x_blind_mean_psnr_full_frame": float(np.nanmedian(psnr(mean, true))),
        "tolerance_db": pixel_tol[0].threshold if pixel_tol else None,
        "shipped_h1_db": _shipped_h1(task),
    }


def _shipped_h1(task: str) -> float | None:
    card = ZOO / task / "calibration.json"
    if not card.is_file():
        return None
    return json.loads(card.read_text())["by_horizon"]["1"].get("psnr_moving")


def write_md(path: Path, result: dict) -> None:
    lines = [
        "# What a renderer blind to the floor's phase can draw: MuJoCo against itself",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; {result['date']}. Frames every 5th step of random and OU-noise "
        "episodes; each against the same physics state with only the torso's x moved by 0.3-3 m.",
        "",
        "One guess: the frame with the floor at one wrong phase. Blend: the mean of "
        f"{PHASES} such frames, what a renderer trained on squared error aims for when it cannot know the phase.",
        "",
        "| task | frames | mask (share of frame) | interior (share of mask) | one guess: mask (dB) "
        "| interior (dB) | full frame (dB) | blend: mask (dB) | full frame (dB) | tolerance (dB) | shipped model, h=1 (dB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task, r in result["tasks"].items():
        shipped = "–" if r["shipped_h1_db"] is None else f"{r['shipped_h1_db']:.1f}"
        lines.append(
            f"| {task} | {r['frames']} | {r['mask_fraction']:.3f} | {r['interior_share_of_mask']:.2f} "
            f"| {r['x_blind_psnr_mask']:.1f} | {r['x_blind_psnr_interior']:.1f} | {r['x_blind_psnr_full_frame']:.1f} "
            f"| {r['x_blind_mean_psnr_mask']:.1f} | {r['x_blind_mean_psnr_full_frame']:.1f} "
            f"| {r['tolerance_db']} | {shipped} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["half_cheetah", "hopper"], choices=["half_cheetah", "hopper"])
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    start = time.perf_counter()
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, MUJOCO_GL={os.environ['MUJOCO_GL']}",
        "date": time.strftime("%Y-%m-%d"),
        "tasks": {t: ceiling(t, args.frames) for t in args.tasks},
    }
    result["seconds"] = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "pixel_ceiling.json").write_text(json.dumps(result, indent=2) + "\n")
    write_md(args.results / "pixel_ceiling.md", result)
    print((args.results / "pixel_ceiling.md").read_text())


if __name__ == "__main__":
    main()
