"""Train a world model preset on a task from at most 50k collected frames and measure open-loop
prediction against baselines, then the cost of imagination.

Run:  python benchmarks/world_model.py --task reacher --minutes 45 [--preset ensemble-small] [--proprio-only] \
          [--work runs/bench-wm] [--sac runs/sac-reacher.zip]
Writes benchmarks/results/world_model_<task>_<preset>[_proprio].{json,md} with the command that
produced them (the RSSM's `small` preset keeps its old names: world_model.{json,md} for reacher,
world_model_<task>.{json,md}). Running it again with the same --work reuses the collected data and the
trained model, and re-evaluates; with --resume-minutes M it first trains that model M minutes more
(an exact resume: same optimizer, sampler and RNG state).

Data per task (PLANS below, <= 50k frames): reacher: 980 episodes of 51 frames, a third uniform
random, a third OU noise and, with --sac, a third from a SAC policy with action noise 0.3
(agents/sac_truth.py), else OU noise. inverted_pendulum: 600 random and 600 OU episodes (they fall
within ~5-30 steps), 200 of the SAC checkpoint after 3k steps with noise 0.3 (it balances a while,
then falls), the rest of the 50k frames from SAC with noise 0.3 (long, balanced episodes).
pusher: 495 episodes of 101 frames, a third each random, OU noise and SAC (the SAC of envs/pusher/README.md,
30k steps) with noise 0.3: the SAC third pushes the object, which random arms rarely touch.
hopper: ~8k frames each of random and OU episodes (it falls within tens of steps), ~12k of the SAC
checkpoint after 10k steps with noise 0.3, the rest from the final SAC with noise 0.3.
half_cheetah: 48 episodes of 1,001 frames: 8 random, 8 OU, 6 SAC-after-3k (an early policy: until
2026-12-02 there was none, and the model scored such a policy -431 against -28), 8 SAC-after-10k, the
rest SAC (noise 0.3).
Evaluation: 40 fresh episodes (other seeds; 20 per source, --eval-episodes N) of 55 steps: 5 real frames of context, then 50 steps
open loop on the true actions. Metrics per horizon:
- PSNR of the full frame, and over the robot and object pixels only (a mask of every pixel that
  the truth renderer's segmentation assigns to a geom of a moving body: arm, fingertip, target);
- the same for two baselines: the last context frame repeated, and the static background (the
  per-pixel median training frame);
- state: RMSE of the whole (unnormalised) state vector against repeating the last context state;
  for reacher also the joint-angle error (rad, from the cos/sin in Reacher's observation), the
  target position error (m) against chance (the mean distance between two random targets), and on
  the smooth-noise (OU, theta 0.15, sigma 0.3) episodes alone the issue's measure: the larger of the
  two joints' angle errors in degrees, median over episodes, against repeating the last state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wmgym.checkpoint import load_model  # noqa: E402
from wmgym.data import collect, load_episodes  # noqa: E402
from wmgym.data.store import dataset_has_pixels, read_record  # noqa: E402
from wmgym.metrics import psnr  # noqa: E402
from wmgym.tasks import get_task  # noqa: E402
from wmgym.train import TrainConfig, open_loop, train  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402

HORIZONS = (1, 5, 15, 50)
CONTEXT = 5
EVAL_EPISODES = 20
"""Held-out episodes per evaluation source (--eval-episodes); other counts get their own folders and
results files (``..._eval<N>``), so the recorded 20-episode numbers stay reproducible."""


class Frames(int):
    """A plan entry's size in frames rather than episodes: for tasks whose episodes end when the robot
    falls, where an episode's length depends on the policy."""


# name, policy, episodes (None: fill the frame budget; Frames(n): about n frames), noise, seed. A plan's
# "state_data" (same fields, episodes counted) are collected unrendered (`collect(pixels=False)`), for the
# dynamics alone: a state costs MuJoCo microseconds, a frame milliseconds and 12 KB. They are outside the
# frame budget, and need --split (or --renderer-from): a run that trains the renderer draws no state-only data.
PLANS = {
    "reacher": {
        "data": [("random", "random", 330, 0.0, 0), ("ou", "ou-noise", 330, 0.0, 0), ("sac", "sac", 320, 0.3, 0)],
        # 8x the framed data, unrendered, as pusher's (the renderer is what limits reacher's trust, and it
        # draws the arm where the dynamics put it)
        "state_data": [
            ("random", "random", 2600, 0.0, 7),
            ("ou", "ou-noise", 2600, 0.0, 7),
            ("sac", "sac", 2600, 0.3, 7),
        ],
        "eval": [("ou", "ou-noise", 0.0), ("sac", "sac", 0.3)],
    },
    "inverted_pendulum": {
        "data": [
            ("random", "random", 600, 0.0, 0),
            ("ou", "ou-noise", 600, 0.0, 0),
            ("sac3000", "sac_3000", 200, 0.3, 0),  # a partly trained policy: it balances a while, then falls
            ("sac", "sac", None, 0.3, 0),
        ],
        "eval": [("sac", "sac", 0.3), ("sac2", "sac", 0.5)],
    },
    "pusher": {
        "data": [("random", "random", 165, 0.0, 0), ("ou", "ou-noise", 165, 0.0, 0), ("sac", "sac", 165, 0.3, 0)],
        # 8x the framed data, unrendered (~2 minutes): with the dynamics' steps bf16 buys on a CPU that
        # computes it, the fingertip's open-loop error at h=15 fell 24% in 10-minute pilots
        # (benchmarks/results/dynamics_data_pusher*.md)
        "state_data": [
            ("random", "random", 1320, 0.0, 7),
            ("ou", "ou-noise", 1320, 0.0, 7),
            ("sac", "sac", 1320, 0.3, 7),
        ],
        "eval": [("ou", "ou-noise", 0.0), ("sac", "sac", 0.3)],
    },
    "hopper": {
        "data": [
            ("random", "random", Frames(8_000), 0.0, 0),  # falls within ~20 steps
            ("ou", "ou-noise", Frames(8_000), 0.0, 0),
            ("sac10k", "sac_10000", Frames(12_000), 0.3, 0),  # hops a while, then falls
            ("sac", "sac", None, 0.3, 0),
        ],
        "eval": [("sac", "sac", 0.3), ("sac10k", "sac_10000", 0.3)],
    },
    "half_cheetah": {  # 1,000-step episodes without termination: 48 fit in the budget
        "data": [
            ("random", "random", 8, 0.0, 0),
            ("ou", "ou-noise", 8, 0.0, 0),
            ("sac3k", "sac_3000", 6, 0.3, 0),  # an early policy (nearly still), as PPO in a dream passes through
            ("sac10k", "sac_10000", 8, 0.3, 0),
            ("sac", "sac", None, 0.3, 0),
        ],
        "eval": [("ou", "ou-noise", 0.0), ("sac", "sac", 0.3)],
    },
}
FRAME_BUDGET = 50_000


def _policy(policy: str, sac: str | None) -> tuple[str, bool]:
    """(policy string, whether it is the SAC stand-in) for a plan entry: ``sac`` is --sac, ``sac_N``
    its checkpoint after N steps (agents/sac_truth.py --checkpoints N saves it beside --sac)."""
    if not policy.startswith("sac"):
        return policy, False
    if not sac:
        return "ou-noise", True
    if policy == "sac":
        return f"sac:{sac}", False
    path = Path(sac).with_name(f"{Path(sac).stem}_{policy.removeprefix('sac_')}.zip")
    if not path.is_file():
        raise SystemExit(f"{path} not found: train it with agents/sac_truth.py --checkpoints")
    return f"sac:{path}", False


def _collected(out: Path) -> None:
    """With --reuse-data, ``out`` must already hold a dataset (it is taken as it is)."""
    if read_record(out) is None:
        raise SystemExit(f"--reuse-data: {out} holds no dataset; collect it first (run without --reuse-data)")


def collect_data(task: str, work: Path, sac: str | None, reuse: bool = False) -> list[Path]:
    """The task's data plan under ``work``, collected (or resumed); ``reuse``: the datasets already
    there, as they are (no policy is run, so a retrained --sac, whose file differs, does not refuse them)."""
    spec, paths, frames = get_task(task), [], 0
    for name, policy, n, noise, seed in PLANS[task]["data"]:
        policy, stand_in = _policy(policy, sac)
        out = work / f"data-{name}"
        kwargs = dict(policy=policy, seed=1 if stand_in else seed, workers=2, noise=0.0 if stand_in else noise)
        if reuse:
            _collected(out)
        elif n is not None and not isinstance(n, Frames):
            collect(task, n, out, progress=True, **kwargs)
        else:  # fill the budget: collection resumes, so grow it until one more long episode could overshoot
            room = FRAME_BUDGET - frames - (spec.episode_length + 1) if n is None else int(n)
            n = 8
            while True:
                collect(task, n, out, progress=True, **kwargs)
                lengths = [len(e) + 1 for e in load_episodes(out)[1]]
                more = int((room - sum(lengths)) / np.mean(lengths) * 0.9)
                if more < 1:
                    break
                n += more
        frames += sum(len(e) + 1 for e in load_episodes(out)[1])
        paths.append(out)
    for name, policy, n, noise, seed in PLANS[task].get("state_data", []):  # unrendered: the dynamics only
        policy, stand_in = _policy(policy, sac)
        out = work / f"state-{name}"
        if reuse:
            _collected(out)
        else:
            collect(task, n, out, policy=policy, seed=seed, workers=2, noise=0.0 if stand_in else noise, pixels=False)
        paths.append(out)
    return paths


def collect_eval(
    task: str, work: Path, sac: str | None, n: int = EVAL_EPISODES, reuse: bool = False
) -> tuple[list, int]:
    spec = get_task(task).replace(episode_length=CONTEXT + max(HORIZONS))
    eps, smooth = [], 0
    for name, policy, noise in PLANS[task]["eval"]:
        policy, stand_in = _policy(policy, sac)
        out = work / (f"eval-{name}" if n == EVAL_EPISODES else f"eval-{name}-{n}")  # the first n of one stream
        if reuse:
            _collected(out)
        else:
            collect(spec, n, out, policy=policy, seed=1000, workers=2, noise=0.0 if stand_in else noise, progress=False)
        loaded = load_episodes(out)[1]
        if name == "ou" and not eps:  # the smooth-noise episodes come first: the max-joint-angle measure
            smooth = len(loaded)
        eps += loaded
    return eps, smooth


def moving_masks(task: str, episodes, n_steps: int) -> np.ndarray:
    """(N, n_steps, H, W) bool: pixels of geoms on moving bodies, from the truth renderer."""
    env = TruthEnv(get_task(task))
    env.reset(seed=0)
    moving_geoms = np.flatnonzero(env.model.geom_bodyid != 0)
    masks = []
    for ep in episodes:
        if len(ep) + 1 < CONTEXT + n_steps:
            continue  # open_loop skips it too
        m = []
        for t in range(CONTEXT, CONTEXT + n_steps):
            env.set_physics_state(ep.physics_state[t])
            m.append(np.isin(env.render_segmentation(), moving_geoms))
        masks.append(m)
    env.close()
    return np.asarray(masks)


def joint_angles(state: np.ndarray) -> np.ndarray:
    return np.arctan2(state[..., 2:4], state[..., 0:2])


def angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


def evaluate(task: str, model, episodes, smooth: int = 0) -> dict:
    """Open-loop metrics per horizon; for reacher, ``smooth`` = how many of ``episodes`` (the first) are
    the OU-noise ones that the max-joint-angle measure is taken on."""
    res = open_loop(model, episodes, CONTEXT, max(HORIZONS))
    true, pred = res["true_pixels"], res["pred_pixels"]
    repeat = np.broadcast_to(res["last_context_pixels"][:, None], true.shape)
    background = np.broadcast_to(model.background_frame().cpu().numpy(), true.shape)
    masks = moving_masks(task, episodes, max(HORIZONS))
    s_true, s_pred = res["true_state"], res["pred_state"]
    s_repeat = np.broadcast_to(res["last_context_state"][:, None], s_true.shape)
    rows = {}
    for h in HORIZONS:
        i = h - 1
        rows[h] = {
            "psnr": float(psnr(pred[:, i], true[:, i]).mean()),
            "psnr_repeat_last": float(psnr(repeat[:, i], true[:, i]).mean()),
            "psnr_background": float(psnr(background[:, i], true[:, i]).mean()),
            "psnr_moving": float(np.nanmean(psnr(pred[:, i], true[:, i], masks[:, i]))),
            "psnr_moving_repeat_last": float(np.nanmean(psnr(repeat[:, i], true[:, i], masks[:, i]))),
            "psnr_moving_background": float(np.nanmean(psnr(background[:, i], true[:, i], masks[:, i]))),
            "state_rmse": float(np.sqrt(np.mean((s_pred[:, i] - s_true[:, i]) ** 2))),
            "state_rmse_repeat_last": float(np.sqrt(np.mean((s_repeat[:, i] - s_true[:, i]) ** 2))),
            "reward_mae": float(np.abs(res["pred_reward"][:, i] - res["true_reward"][:, i]).mean()),
            "uncertainty": float(res["uncertainty"][:, i].mean()),
        }
        if task == "reacher":
            rows[h].update(_reacher_rows(res, i, smooth))
    return {"episodes": len(true), "context": CONTEXT, "by_horizon": rows}


def _reacher_rows(res: dict, i: int, smooth: int) -> dict:
    ja_true, ja_pred = joint_angles(res["true_state"]), joint_angles(res["pred_state"])
    ja_repeat = np.broadcast_to(joint_angles(res["last_context_state"])[:, None], ja_true.shape)
    worst = np.degrees(angle_error(ja_pred[:smooth, i], ja_true[:smooth, i]).max(-1))
    worst_repeat = np.degrees(angle_error(ja_repeat[:smooth, i], ja_true[:smooth, i]).max(-1))
    targets = res["true_state"][..., 4:6]
    rng = np.random.default_rng(0)
    chance = float(np.mean(np.linalg.norm(targets[rng.permutation(len(targets)), 0] - targets[:, 0], axis=-1)))
    return {
        "joint_angle_err_rad": float(angle_error(ja_pred[:, i], ja_true[:, i]).mean()),
        "joint_angle_err_repeat_last_rad": float(angle_error(ja_repeat[:, i], ja_true[:, i]).mean()),
        "target_err_m": float(np.linalg.norm(res["pred_state"][:, i, 4:6] - targets[:, i], axis=-1).mean()),
        "target_err_chance_m": chance,
        "smooth_max_joint_err_deg_median": float(np.median(worst)) if smooth else None,
        "smooth_max_joint_err_deg_median_repeat_last": float(np.median(worst_repeat)) if smooth else None,
        "smooth_episodes": smooth,
    }


@torch.no_grad()
def imagination_cost(model, seconds: float = 2.0, bf16: bool = False) -> dict:
    out = {}
    for batch in (1, 64, 1024):
        action = torch.zeros(batch, model.cfg.action_dim)
        rates = {}
        for name, decode in (("latent_steps_per_s", False), ("decoded_frames_per_s", True)):
            latent = model.initial(batch)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    latent, _ = model.step(latent, action)
                    if decode:
                        model.decode(latent)
                    n += 1
            rates[name] = n * batch / (time.perf_counter() - start)
        out[str(batch)] = rates
    return out


def write_md(path: Path, result: dict) -> None:
    reacher = result["task"] == "reacher"
    smooth = []
    lines = [
        f"# World model: {result['task']}, `{result['preset']}` preset, CPU",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; {result['date']}.",
        "",
        f"Training: {result['train']['steps']} steps in {result['train']['minutes']:.1f} min, "
        f"{result['train']['frames_per_s']:.0f} frames/s, batch {result['train']['batch']}; data {result['data_frames']} frames"
        + (
            f" and {result['state_only_frames']} state-only (unrendered) for the dynamics."
            if result.get("state_only_frames")
            else "."
        ),
        "",
        f"Open loop on {result['eval']['episodes']} held-out episodes, {CONTEXT} context frames:",
        "",
        "| h | PSNR | repeat-last | background | moving-px PSNR | repeat-last | background | state RMSE | repeat-last |"
        + (" joint err (rad) | repeat-last | target err (cm) | chance |" if reacher else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|---:|" if reacher else ""),
    ]
    for h, r in result["eval"]["by_horizon"].items():
        if reacher and r.get("smooth_max_joint_err_deg_median") is not None:
            smooth.append(
                f"| {h} | {r['smooth_max_joint_err_deg_median']:.2f} | {r['smooth_max_joint_err_deg_median_repeat_last']:.2f} |"
            )
        line = (
            f"| {h} | {r['psnr']:.1f} | {r['psnr_repeat_last']:.1f} | {r['psnr_background']:.1f} | "
            f"{r['psnr_moving']:.1f} | {r['psnr_moving_repeat_last']:.1f} | {r['psnr_moving_background']:.1f} | "
            f"{r['state_rmse']:.3f} | {r['state_rmse_repeat_last']:.3f} |"
        )
        if reacher:
            line += (
                f" {r['joint_angle_err_rad']:.3f} | {r['joint_angle_err_repeat_last_rad']:.3f} | "
                f"{100 * r['target_err_m']:.1f} | {100 * r['target_err_chance_m']:.1f} |"
            )
        lines.append(line)
    if smooth:
        n = next(iter(result["eval"]["by_horizon"].values()))["smooth_episodes"]
        lines += [
            "",
            f"Smooth-noise actions (OU theta 0.15, sigma 0.3), {n} held-out episodes: the larger joint's angle "
            "error in degrees, median over episodes (target: <= 5 at h=15, <= 10 at h=50):",
            "",
            "| h | model | repeat-last |",
            "|---|---:|---:|",
            *smooth,
        ]
    lines += [
        "",
        f"Imagination ({result.get('imagination_precision', 'bf16')}, this CPU):",
        "",
        "| batch | latent steps/s | decoded frames/s |",
        "|---:|---:|---:|",
    ]
    for b, r in result["imagination"].items():
        lines.append(f"| {b} | {r['latent_steps_per_s']:.0f} | {r['decoded_frames_per_s']:.0f} |")
    path.write_text("\n".join(lines) + "\n")


RENDERER = ("renderer",)
NOT_RENDERER = ("dynamics", "reward_head", "cont_head")
"""A full-state ensemble's parts besides its renderer (the two share no weights: `wmgym.train.parts`)."""


def train_run(
    data: list[str], run: Path, cfg: TrainConfig, split: bool, take: tuple[Path, tuple[str, ...]] | None = None
) -> None:
    """Train ``run``; with ``split``, its renderer in a second process (run folder ``<run>-renderer``)
    while this one trains the rest, both single-threaded for the same minutes, then join them; with
    ``take=(source, parts)``, train all but ``parts`` (one thread) and take ``parts`` from the
    finished run ``source`` (same preset and data)."""
    from dataclasses import replace

    from wmgym.train.parts import take_parts

    if take is not None:
        source, parts = take
        torch.set_num_threads(1)
        train(data, run, replace(cfg, train_only=NOT_RENDERER if parts == RENDERER else RENDERER))
        print("joined:", take_parts(run, source, parts))
        return
    if not split:
        train(data, run, cfg)
        return
    import multiprocessing as mp

    renderer_run = run.with_name(run.name + "-renderer")
    # The renderer trains in fp32 whatever --precision says: bf16 made its step only 1.09x faster on an
    # AVX512-BF16 CPU (the dynamics' 1.6x), and bf16's 8-bit mantissa is a frame's own quantum.
    renderer_cfg = replace(cfg, train_only=RENDERER, precision="fp32")
    child = mp.get_context("spawn").Process(
        target=_train_quietly, args=(data, renderer_run, renderer_cfg), name="train-renderer"
    )
    child.start()
    try:
        torch.set_num_threads(1)
        train(data, run, replace(cfg, train_only=NOT_RENDERER))
    finally:
        child.join()
    if child.exitcode:
        raise SystemExit(
            f"training the renderer in {renderer_run} failed (exit code {child.exitcode}); rerun to resume"
        )
    print("joined:", take_parts(run, renderer_run, RENDERER))


def _train_quietly(data: list[str], run: Path, cfg: TrainConfig) -> None:
    torch.set_num_threads(1)
    train(data, run, cfg, progress=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reacher", choices=sorted(PLANS))
    p.add_argument("--minutes", type=float, default=45.0)
    p.add_argument("--work", type=Path, default=Path("runs/bench-wm"))
    p.add_argument("--sac", default=None, help="SB3 SAC .zip for the goal-reaching third of the data")
    p.add_argument("--resume-minutes", type=float, default=None, help="train an existing --work run this much longer")
    p.add_argument("--preset", default="ensemble-small", help="a world model preset (wmgym.model.PRESETS)")
    p.add_argument("--proprio-only", action="store_true", help="the proprioception-only variant (ensemble presets)")
    p.add_argument(
        "--learned-dim",
        type=int,
        default=None,
        help="ensemble presets: size of the latent part z inferred from frames (default: the preset's; "
        "a full-state model needs it where the frames show what the state omits, e.g. half_cheetah's floor)",
    )
    p.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="ensemble presets: steps of the open-loop loss (default: the preset's, 10); below --seq-len",
    )
    p.add_argument(
        "--members",
        type=int,
        default=None,
        help="ensemble presets: dynamics MLPs (default: the preset's, 5)",
    )
    p.add_argument(
        "--cnn-depth",
        type=int,
        default=None,
        help="ensemble presets: the renderer's channels at full resolution (default: the preset's, 16)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        help="training autocast: fp32, bf16 or auto (bf16 where the CPU computes it faster, timed on the first "
        "steps); with --split the renderer's process trains in fp32",
    )
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument(
        "--model", default=None, help="evaluate this zoo model or checkpoint instead of --work's run (trains nothing)"
    )
    p.add_argument("--eval-episodes", type=int, default=EVAL_EPISODES, help="held-out episodes per evaluation source")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay (0: Adam)")
    p.add_argument(
        "--lr-decay",
        type=float,
        default=TrainConfig.lr_decay,
        help="share of the budget at its end over which the lr falls to 0 (0: constant)",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="train the renderer in a second process beside the dynamics and heads, one thread each, then join them",
    )
    p.add_argument(
        "--renderer-from",
        type=Path,
        default=None,
        help="train only the dynamics and heads (one thread) and take the renderer of this finished run "
        "(same preset; its data may be another collection of the task, and its depth another: "
        "`wmgym join`): for a model whose pixels already hold and whose dynamics do not",
    )
    p.add_argument(
        "--dynamics-from",
        type=Path,
        default=None,
        help="train only the renderer (one thread) and take the dynamics and heads of this finished run "
        "(same preset and data): for a model whose states hold and whose pixels do not",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the model's initialization and the batches (not the data)"
    )
    p.add_argument(
        "--reuse-data",
        action="store_true",
        help="take the datasets already in --work as they are, collecting nothing (e.g. after --sac was retrained)",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    if args.split and (args.proprio_only or args.learned_dim or not args.preset.startswith("ensemble-")):
        p.error(
            "--split trains an ensemble's renderer apart from its dynamics: a full-state ensemble preset only, "
            "without --learned-dim (the frame encoder feeds both)"
        )
    # --model evaluates a finished model: no training, so no data check
    if (
        args.model is None
        and PLANS[args.task].get("state_data")
        and not (args.split or args.renderer_from or args.dynamics_from)
    ):
        p.error(
            f"{args.task}'s plan has state-only data, which train only the dynamics: train with --split "
            "(or retrain one half with --renderer-from/--dynamics-from)"
        )
    take = None
    if args.renderer_from is not None or args.dynamics_from is not None:
        if args.split or args.proprio_only or args.learned_dim or not args.preset.startswith("ensemble-"):
            p.error(
                "--renderer-from/--dynamics-from retrain one part of a full-state ensemble: a full-state "
                "ensemble preset, without --split or --learned-dim"
            )
        if args.renderer_from is not None and args.dynamics_from is not None:
            p.error("give one of --renderer-from (retrain the dynamics) and --dynamics-from (retrain the renderer)")
        take = (args.renderer_from, RENDERER) if args.renderer_from is not None else (args.dynamics_from, NOT_RENDERER)
        if not (take[0] / "checkpoint").is_dir():
            p.error(f"{take[0]} is not a finished training run (no {take[0] / 'checkpoint'}): give a run folder")
    torch.manual_seed(0)
    data = collect_data(args.task, args.work, args.sac, args.reuse_data)
    framed = [d for d in data if dataset_has_pixels(d)]
    frames = sum(sum(len(e) + 1 for e in load_episodes(d)[1]) for d in framed)
    state_frames = sum(sum(len(e) + 1 for e in load_episodes(d)[1]) for d in data if d not in framed)
    if frames > FRAME_BUDGET:  # e.g. a --work collected by an older plan with more episodes per source
        raise SystemExit(
            f"{args.work} holds {frames} frames, over the {FRAME_BUDGET} budget of this task's plan (PLANS): "
            "its data folders were collected by another plan; use a new --work"
        )
    eval_eps, smooth = collect_eval(args.task, args.work, args.sac, args.eval_episodes, args.reuse_data)
    suffix = ("-split" if args.split else "") + (f"-z{args.learned_dim}" if args.learned_dim is not None else "")
    suffix += f"-h{args.horizon}" if args.horizon is not None else ""
    suffix += f"-k{args.members}" if args.members is not None else ""
    suffix += f"-d{args.cnn_depth}" if args.cnn_depth is not None else ""
    suffix += f"-seed{args.seed}" if args.seed else ""
    if take is not None:
        suffix = "-new-dynamics" if take[1] == RENDERER else "-new-renderer"
    run = args.work / ("run-" + args.preset + ("-proprio" if args.proprio_only else "") + suffix)
    record = run / "benchmark_train.json"  # a re-run with the same --work re-evaluates without retraining
    if args.model is not None:  # evaluate a finished model (a zoo name or checkpoint), train nothing
        from wmgym.zoo import resolve

        model, saved = load_model(resolve(args.model))
        minutes = saved["train"].get("minutes")
    elif not record.is_file() or args.resume_minutes:
        start = time.perf_counter()
        minutes = args.resume_minutes if record.is_file() else args.minutes
        before = json.loads(record.read_text())["minutes"] if record.is_file() else 0.0
        cfg = TrainConfig(
            preset=args.preset,
            proprio_only=args.proprio_only,
            learned_dim=args.learned_dim,
            horizon=args.horizon,
            members=args.members,
            cnn_depth=args.cnn_depth,
            seed=args.seed,
            minutes=minutes,
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            lr=args.lr,
            weight_decay=args.weight_decay,
            lr_decay=args.lr_decay,
            precision=args.precision,
        )
        train_run([str(d) for d in data], run, cfg, args.split, take)  # resumes from run/checkpoint if there is one
        record.write_text(json.dumps({"minutes": before + (time.perf_counter() - start) / 60}))
    if args.model is None:
        minutes = json.loads(record.read_text())["minutes"]
        model, saved = load_model(run / "checkpoint")
    model.eval()
    steps = saved["step"]
    how = saved["train"] if args.model is not None else vars(args)  # how the evaluated model was trained
    bs, sl = how["batch_size"], how["seq_len"]
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        "task": args.task,
        "preset": args.preset
        + (" (proprioception only)" if args.proprio_only else "")
        + (f" + {args.learned_dim}-d z from frames" if args.learned_dim is not None else "")
        + (f", {args.horizon}-step open-loop loss" if args.horizon is not None else "")
        + (f", {args.members} members" if args.members is not None else "")
        + (f", renderer depth {args.cnn_depth}" if args.cnn_depth is not None else ""),
        "data_frames": frames,
        "state_only_frames": state_frames,
        "train": {
            "steps": steps,
            "minutes": minutes,
            "batch": f"{bs}x{sl}",
            "lr": how["lr"],
            "weight_decay": how.get("weight_decay", 0.0),
            "lr_decay": how.get("lr_decay", 0.0),
            "frames_per_s": steps * bs * sl / (60 * minutes),
            **({"parts_from": saved["parts_from"]} if saved.get("parts_from") else {}),
            # what the (dynamics') run trained in; with auto on a CPU, what its first steps measured
            **{k: saved[k] for k in ("precision", "precision_probe") if saved.get(k)},
        },
        "eval": evaluate(args.task, model, eval_eps, smooth=smooth),
        "imagination": imagination_cost(model, bf16=args.preset in ("debug", "small", "base")),
        "imagination_precision": "bf16 autocast" if args.preset in ("debug", "small", "base") else "fp32",
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = "world_model" if args.task == "reacher" else f"world_model_{args.task}"
    if run.name != "run-small":  # named as its run folder, so two recipes never share a results file
        stem = f"world_model_{args.task}_{args.preset}" + run.name[len("run-" + args.preset) :].replace("-", "_")
    if args.eval_episodes != EVAL_EPISODES:
        stem += f"_eval{args.eval_episodes}"
    (args.results / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_md(args.results / f"{stem}.md", result)
    print((args.results / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
