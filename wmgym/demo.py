"""``wmgym demo``: the main job, offline, on a model shipped in the package.

1. rolls a policy side by side in MuJoCo and in the dream from the same start, and writes an mp4
   (truth | dream | error);
2. trains PPO in the batched dream env on state observations, then evaluates it in MuJoCo next to
   a random policy (and a do-nothing one), with the dream's own estimate of its return;
3. prints where the outputs are.

Without a shipped model for the task it falls back to the data loop: collect, read back with
Minari, replay from stored physics states, video.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from wmgym.calibrate.paired import paired_rollout
from wmgym.data import collect, load_episodes
from wmgym.dream import DreamEnv
from wmgym.dream.sb3 import sb3_vec_env
from wmgym.episode import run_episode
from wmgym.policies import OUNoisePolicy, ReplayPolicy
from wmgym.tasks import get_task
from wmgym.truth import TruthEnv
from wmgym.video import error_frames, side_by_side, write_mp4
from wmgym.zoo import zoo_models


def run_demo(
    task: str = "reacher",
    out: str | Path = "wmgym-demo",
    ppo_steps: int = 1_000_000,
    n_envs: int = 64,
    eval_episodes: int = 20,
    seed: int = 0,
) -> dict:
    """Run the main job on a shipped model and write its outputs to ``out``.

    Args:
        task: a shipped model (`wmgym zoo`); without one, the data loop runs instead.
        out: folder for the video, the PPO policy and demo_results.json.
        ppo_steps: PPO training steps in the dream.
        n_envs: batched dream envs PPO trains in.
        eval_episodes: MuJoCo episodes per policy in the evaluation.
        seed: seed of PPO, the side-by-side rollout and the evaluation episodes.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if task not in zoo_models():
        print(
            f"no shipped world model for {task!r} (shipped: {', '.join(zoo_models()) or 'none'}); "
            "running the data loop instead"
        )
        return run_data_demo(task, out=out)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    print(f"[1/3] {task}: a policy in MuJoCo and in the dream from the same start")
    video = _side_by_side_video(task, out / "truth_dream_error.mp4", seed)
    print(f"      wrote {video}")
    print(f"[2/3] training PPO for {ppo_steps} steps in {n_envs} batched dream envs (state observations)")
    from stable_baselines3 import PPO

    venv = sb3_vec_env(task, n_envs=n_envs)
    venv.seed(seed)
    agent = PPO(
        "MlpPolicy",
        venv,
        n_steps=64,
        batch_size=1024,
        n_epochs=5,
        learning_rate=1e-3,
        gamma=0.95,
        seed=seed,
        verbose=0,
        device="cpu",
    )
    agent.learn(ppo_steps, progress_bar=False)
    agent.save(out / "ppo_dream.zip")
    act = lambda s: agent.predict(s, deterministic=True)[0]  # noqa: E731
    rng = np.random.default_rng(seed)
    env = TruthEnv(task, obs_mode="state")
    results = {
        "ppo_in_mujoco": _returns(env, act, eval_episodes, seed),
        "random_in_mujoco": _returns(
            env, lambda s: rng.uniform(env.action_space.low, env.action_space.high), eval_episodes, seed
        ),
        "zero_action_in_mujoco": _returns(env, lambda s: np.zeros(env.action_space.shape), eval_episodes, seed),
        "ppo_in_dream": _returns(DreamEnv(task), act, eval_episodes, seed),
    }
    summary = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in results.items()}
    for k, v in summary.items():
        print(
            f"      {k:24s} return {v['mean']:8.2f} +- {v['std']:.2f}  ({eval_episodes} episodes, reset seeds {seed + 1000}-{seed + 999 + eval_episodes})"
        )
    record = {
        "task": task,
        "ppo_steps": ppo_steps,
        "n_envs": n_envs,
        "seed": seed,
        "returns": summary,
        **_normalized(task, summary),
        "seconds": time.perf_counter() - t0,
    }
    (out / "demo_results.json").write_text(json.dumps(record, indent=2))
    print(
        f"[3/3] outputs in {out}/: truth_dream_error.mp4, ppo_dream.zip, demo_results.json ({record['seconds']:.0f} s)"
    )
    return record


def _normalized(task: str, summary: dict) -> dict:
    """Scores in MuJoCo on the task's scale (random 0, expert 1), where the task has a reference."""
    ref = get_task(task).reference
    if ref is None:
        return {}
    scores = {k: ref.normalize(v["mean"]) for k, v in summary.items() if k.endswith("_in_mujoco")}
    print(
        f"      normalized in MuJoCo (random 0, expert {ref.expert:.2f} = 1): "
        + ", ".join(f"{k.removesuffix('_in_mujoco')} {v:.2f}" for k, v in scores.items())
    )
    return {"normalized": scores, "reference": {"random": ref.random, "expert": ref.expert, "how": ref.how}}


def _returns(env, act, episodes: int, seed: int) -> list[float]:
    return [run_episode(env, act, seed + 1000 + i).total_reward for i in range(episodes)]


def _side_by_side_video(task: str, path: Path, seed: int) -> Path:
    truth = TruthEnv(task)
    policy = OUNoisePolicy(truth.action_space)
    roll = paired_rollout(truth, DreamEnv(task, render_mode="rgb_array"), policy, seed)
    truth.close()
    frames = side_by_side(roll.truth_pixels, roll.dream_pixels, error_frames(roll.truth_pixels, roll.dream_pixels))
    return write_mp4(frames, path, fps=int(round(1 / truth.dt)))


def run_data_demo(task: str = "reacher", episodes: int = 8, out: str | Path = "wmgym-demo") -> dict:
    """Collect a small dataset, read it back with Minari, replay it from stored physics states."""
    out = Path(out)
    t0 = time.perf_counter()
    print(f"[1/3] collecting {episodes} episodes of {task!r} into {out / 'dataset'}")
    collect(task, episodes, out / "dataset", policy="ou-noise", workers=2)
    spec, eps = load_episodes(out / "dataset")
    print(
        f"[2/3] read back {len(eps)} episodes, {sum(len(e) for e in eps)} steps; replaying episode 0 from stored physics states"
    )
    ep = eps[0]
    env = TruthEnv(spec)
    # the recorded actions, open loop from the recorded first physics state
    start = {"physics_state": ep.physics_state[0]}
    replay = run_episode(env, ReplayPolicy(ep.actions), None, steps=len(ep), options=start)
    fps = int(round(1 / env.dt))
    env.close()
    replayed = replay.obs["pixels"]
    exact = bool(np.array_equal(replayed, ep.pixels))
    print(f"      replaying its actions from its first physics state reproduces all {len(ep)} frames exactly: {exact}")
    video = write_mp4(side_by_side(ep.pixels, replayed, error_frames(ep.pixels, replayed)), out / "replay.mp4", fps=fps)
    print(f"[3/3] wrote {video}  (recorded | replayed | error)")
    print(f"done in {time.perf_counter() - t0:.0f} s. Outputs: dataset {out / 'dataset'}, video {video}")
    return {"dataset": out / "dataset", "video": video, "replay_exact": exact}
