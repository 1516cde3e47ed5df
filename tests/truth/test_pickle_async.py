"""The truth env pickles, and gymnasium's async vector env runs it without hanging."""

import os
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import wmgym
from wmgym.tasks import get_task, list_tasks
from wmgym.truth import TruthEnv
from wmgym.truth.render import FrameRenderer


def test_truth_ids_carry_the_episode_length():
    assert gym.spec("wmgym/Reacher-truth-v0").max_episode_steps == 50
    for task in list_tasks():
        assert gym.spec(wmgym.truth_env_id(task)).max_episode_steps == get_task(task).episode_length


def test_a_fresh_env_pickles():
    copy = pickle.loads(pickle.dumps(TruthEnv("reacher")))
    obs, _ = copy.reset(seed=0)
    np.testing.assert_array_equal(obs["pixels"], TruthEnv("reacher").reset(seed=0)[0]["pixels"])


@pytest.mark.parametrize("task", ["reacher", "pusher"])
def test_a_rendered_env_pickles_and_the_copy_steps_as_the_original(task):
    env = TruthEnv(task, render_mode="rgb_array", render_size=(96, 96))
    env.reset(seed=3)
    env.render()
    rng = np.random.default_rng(0)
    for _ in range(4):
        env.step(rng.uniform(env.action_space.low, env.action_space.high))
    copy = pickle.loads(pickle.dumps(env))
    assert copy.elapsed_steps == env.elapsed_steps == 4
    for _ in range(4):
        action = rng.uniform(env.action_space.low, env.action_space.high)
        a, b = env.step(action), copy.step(action)
        np.testing.assert_array_equal(a[0]["pixels"], b[0]["pixels"])
        np.testing.assert_array_equal(a[0]["state"], b[0]["state"])
        assert a[1:4] == b[1:4]
    np.testing.assert_array_equal(env.render(), copy.render())
    np.testing.assert_array_equal(env.reset()[0]["state"], copy.reset()[0]["state"])  # same random generators


def test_frame_renderer_pickles_and_a_half_built_one_closes():
    env = TruthEnv("reacher")
    env.reset(seed=0)
    copy = pickle.loads(pickle.dumps(env._renderer))
    np.testing.assert_array_equal(copy.render(env.data), env._renderer.render(env.data))
    FrameRenderer.__new__(FrameRenderer).close()  # what __del__ runs on an object whose __init__ failed


_ASYNC_SCRIPT = """
import gymnasium as gym, numpy as np, wmgym
if __name__ == "__main__":
    envs = gym.make_vec("wmgym/Reacher-truth-v0", 2, vectorization_mode="async")
    obs, _ = envs.reset(seed=0)
    assert obs["pixels"].shape == (2, 64, 64, 3) and obs["pixels"].any()
    for _ in range(3):
        obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
    assert obs["state"].shape == (2, 10) and reward.shape == (2,)
    envs.close()
    print("ok")
"""


@pytest.mark.timeout(120)
def test_async_vector_env_with_the_default_context_in_a_fresh_process():
    env = {**os.environ, "MUJOCO_GL": "egl"}
    out = subprocess.run([sys.executable, "-c", _ASYNC_SCRIPT], capture_output=True, text=True, timeout=100, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


@pytest.mark.timeout(120)
def test_async_vector_env_forked_after_rendering_fails_at_once_and_spawn_works():
    TruthEnv("reacher").reset(seed=0)  # this process has rendered: a forked worker cannot
    envs = gym.make_vec("wmgym/Reacher-truth-v0", 2, vectorization_mode="async", vector_kwargs={"context": "fork"})
    with pytest.raises(RuntimeError, match=r"forked from a process that had already rendered.*'context': 'spawn'"):
        envs.reset(seed=0)
    envs.close(terminate=True)
    envs = gym.make_vec("wmgym/Reacher-truth-v0", 2, vectorization_mode="async", vector_kwargs={"context": "spawn"})
    try:
        obs, _ = envs.reset(seed=0)
        for _ in range(3):
            obs, *_ = envs.step(envs.action_space.sample())
        assert obs["pixels"].shape == (2, 64, 64, 3)
    finally:
        envs.close()
