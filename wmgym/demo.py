"""``wmgym demo``: the main job, offline, on a model shipped in the package.

1. rolls a policy side by side in MuJoCo and in the dream from the same start, and writes a labelled
   mp4 (truth | dream | error, with a step counter);
2. trains PPO in the batched dream env on state observations (with a progress bar);
3. scores it in MuJoCo next to a random policy and a do-nothing one, with the dream's own estimate of
   its return, and prints them next to the task's expert reference and the model's trust horizon
   (from its calibration card); everything printed is also in ``demo_results.json``.

Without a shipped model for the task it falls back to the data loop: collect, read back with
Minari, replay from stored physics states, video.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wmgym.calibrate.paired import paired_rollout
from wmgym.data import collect, load_episodes
from wmgym.dream import DreamEnv
from wmgym.dream.sb3 import sb3_vec_env
from wmgym.episode import run_episode
from wmgym.policies import OUNoisePolicy, ReplayPolicy
from wmgym.tasks import get_task
from wmgym.truth import TruthEnv
from wmgym.video import FPS, error_frames, side_by_side, write_mp4
from wmgym.zoo import ZOO, zoo_models
from wmgym.zoo.export import CALIBRATION, describe_trust

EVAL_SEED = 1000
"""Evaluation episode i is reset with seed ``seed + EVAL_SEED + i``: away from the seeds of the video
and of the world model's data collection."""
PPO_STEPS_PER_S = 12_000
"""PPO in 64 dream envs on one thread of a 2-core machine (measured 2026-12-01 after the ensemble step
was tuned: 17,300 steps/s idle, 14-18k with CI's other work; 6,700-7,000 before), rounded down for a
busy core, for the time estimate printed at the start."""
OTHER_SECONDS = 15
"""The rest of the demo on that machine: loading, the video, the scoring (measured 2026-12-01: ~6-10 s)."""


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
        seed: seed of PPO and the side-by-side rollout; evaluation episodes are reset with seeds
            ``seed + 1000 ...``.
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
    minutes = (OTHER_SECONDS + ppo_steps / PPO_STEPS_PER_S) / 60
    print(f"wmgym demo on {task!r}: about {minutes:.0f} min on 2 CPU cores; outputs in {out}/")
    print(f"[1/3] a policy in MuJoCo and in the dream from the same start (reset seed {seed})")
    video = _side_by_side_video(task, out / "truth_dream_error.mp4", seed)
    print(f"      wrote {video}: truth | dream | error, {FPS} frames/s")
    print(f"[2/3] training PPO for {ppo_steps:,} steps in {n_envs} batched dream envs (state observations)")
    agent = _train_ppo(task, ppo_steps, n_envs, seed)
    agent.save(out / "ppo_dream.zip")
    seeds = (seed + EVAL_SEED, seed + EVAL_SEED + eval_episodes - 1)
    print(f"[3/3] scoring in MuJoCo: {eval_episodes} episodes per policy, reset seeds {seeds[0]}-{seeds[1]}")
    summary = _score(task, agent, eval_episodes, seed)
    record = {
        "task": task,
        "ppo_steps": ppo_steps,
        "n_envs": n_envs,
        "seed": seed,
        "eval_episodes": eval_episodes,
        "eval_seeds": list(seeds),
        "returns": summary,
        **_normalized(task, summary),
        "trust_horizon": _trust_horizon(task),
        "seconds": time.perf_counter() - t0,
    }
    (out / "demo_results.json").write_text(json.dumps(record, indent=2))
    _print_summary(record)
    print(f"outputs in {out}/: truth_dream_error.mp4, ppo_dream.zip, demo_results.json ({record['seconds']:.0f} s)")
    return record


def _train_ppo(task: str, steps: int, n_envs: int, seed: int):
    from stable_baselines3 import PPO

    venv = sb3_vec_env(task, n_envs=n_envs)
    venv.seed(seed)
    agent = PPO(
        "MlpPolicy",
        venv,
        n_steps=64,
        batch_size=min(1024, 64 * n_envs),
        n_epochs=5,
        learning_rate=1e-3,
        gamma=0.95,
        seed=seed,
        verbose=0,
        device="cpu",
    )
    # One thread: these small networks gain nothing from a second, and on a 2-core machine with
    # another process busy PPO ran 5-10x slower with two (700-1,200 vs 6,700 steps/s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agent.learn(steps, callback=_progress_bar(steps))
    finally:
        torch.set_num_threads(threads)
    return agent


def _progress_bar(total: int):
    """An SB3 callback showing PPO's steps, rate and time left: a plain tqdm bar, as collect's and
    train's (SB3's own draws with rich)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=total, unit="step", unit_scale=True, desc="PPO in the dream", mininterval=1.0)

        def _on_step(self) -> bool:
            self.bar.update(min(self.training_env.num_envs, total - self.bar.n))  # SB3 ends on a whole rollout
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return Progress()


def _score(task: str, agent, episodes: int, seed: int) -> dict:
    """Mean and std of each policy's return over the same ``episodes`` evaluation starts."""
    act = lambda s: agent.predict(s, deterministic=True)[0]  # noqa: E731
    rng = np.random.default_rng(seed)
    env = TruthEnv(task, obs_mode="state")
    policies = {
        "ppo_in_mujoco": (env, act),
        "random_in_mujoco": (env, lambda s: rng.uniform(env.action_space.low, env.action_space.high)),
        "zero_action_in_mujoco": (env, lambda s: np.zeros(env.action_space.shape)),
        "ppo_in_dream": (DreamEnv(task), act),
    }
    bar = tqdm(total=len(policies) * episodes, unit="ep", desc="scoring", mininterval=1.0)
    summary = {}
    for name, (e, policy) in policies.items():
        returns = []
        for i in range(episodes):
            returns.append(run_episode(e, policy, seed + EVAL_SEED + i).total_reward)
            bar.update(1)
        summary[name] = {"mean": float(np.mean(returns)), "std": float(np.std(returns))}
    bar.close()
    return summary


def _normalized(task: str, summary: dict) -> dict:
    """Scores in MuJoCo on the task's scale (random 0, expert 1), where the task has a reference."""
    ref = get_task(task).reference
    if ref is None:
        return {}
    scores = {k: ref.normalize(v["mean"]) for k, v in summary.items() if k.endswith("_in_mujoco")}
    return {"normalized": scores, "reference": {"random": ref.random, "expert": ref.expert, "how": ref.how}}


def _trust_horizon(task: str) -> dict | None:
    """The shipped model's trust horizon, from its calibration card (None: not calibrated)."""
    card = ZOO / task / CALIBRATION
    if not card.is_file():
        return None
    th = json.loads(card.read_text())["trust_horizon"]
    return {
        "steps": th["steps"],
        "of": th["of"],
        "episode_length": get_task(task).episode_length,
        "limited_by": th["limited_by"],
        "card": f"wmgym/zoo/{task}/{CALIBRATION}",
    }


def _side_by_side_video(task: str, path: Path, seed: int, context: int = 4) -> Path:
    """truth | dream | error of one OU-noise rollout from the same start, labelled, one caption per step."""
    truth = TruthEnv(task)
    roll = paired_rollout(
        truth, DreamEnv(task, render_mode="rgb_array"), OUNoisePolicy(truth.action_space), seed, context
    )
    truth.close()
    t, d = roll.truth_pixels, roll.dream_pixels
    trusted = (_trust_horizon(task) or {}).get("steps")
    captions = [
        f"step {context + i}: dreamt {i} steps open loop after {context} real"
        + (f" (past the trust horizon, {trusted})" if trusted is not None and i > trusted else "")
        for i in range(len(t))
    ]
    titles = ("MuJoCo (truth)", "dream (world model)", "|truth - dream| x4")
    return write_mp4(side_by_side(t, d, error_frames(t, d)), path, titles=titles, captions=captions)


LABELS = {
    "ppo_in_mujoco": "PPO (trained in the dream)",
    "random_in_mujoco": "random actions",
    "zero_action_in_mujoco": "do nothing (zero action)",
    "ppo_in_dream": "PPO, in the dream",
}


def _print_summary(record: dict) -> None:
    a, b = record["eval_seeds"]
    print(f"\nreturns ({record['eval_episodes']} episodes per policy, reset seeds {a}-{b}):")
    normalized = record.get("normalized", {})
    for key, r in record["returns"].items():
        where = "dream's own estimate" if key.endswith("_in_dream") else "in MuJoCo"
        score = f"   normalized {normalized[key]:5.2f}" if key in normalized else ""
        print(f"  {LABELS.get(key, key):28s} {where:20s} {r['mean']:8.2f} +- {r['std']:5.2f}{score}")
    ref = record.get("reference")
    if ref:
        print(
            f"expert reference in MuJoCo: {ref['expert']:.2f} (normalized 1; random actions {ref['random']:.2f} = 0); "
            'how it was measured: "reference" in demo_results.json'
        )
    th = record["trust_horizon"]
    if th:
        print(
            f"the world model is {describe_trust(th['steps'], th['of'], th['episode_length'], th['limited_by'])} "
            f"({th['card']}): past that, the dream's returns are estimates, checked here against MuJoCo"
        )


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
    env.close()
    replayed = replay.obs["pixels"]
    exact = bool(np.array_equal(replayed, ep.pixels))
    print(f"      replaying its actions from its first physics state reproduces all {len(ep)} frames exactly: {exact}")
    video = write_mp4(side_by_side(ep.pixels, replayed, error_frames(ep.pixels, replayed)), out / "replay.mp4")
    print(f"[3/3] wrote {video}  (recorded | replayed | error)")
    print(f"done in {time.perf_counter() - t0:.0f} s. Outputs: dataset {out / 'dataset'}, video {video}")
    return {"dataset": out / "dataset", "video": video, "replay_exact": exact}
