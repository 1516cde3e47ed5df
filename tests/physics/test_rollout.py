"""Batched ground truth equals the truth env, step for step."""

import importlib.util

import numpy as np
import pytest

from wmgym.physics import BatchedTruth
from wmgym.truth import TruthEnv


def _stepped(task, seeds, steps):
    env = TruthEnv(task, obs_mode="state")
    starts, actions, obs = [], [], []
    for s in seeds:
        env.reset(seed=s)
        starts.append(env.get_physics_state())
        a = np.random.default_rng(s).uniform(
            env.action_space.low, env.action_space.high, (steps, env.action_space.shape[0])
        )
        obs.append([env.step(x)[0] for x in a])
        actions.append(a)
    env.close()
    return np.array(starts), np.array(actions), np.array(obs)


@pytest.mark.parametrize("task", ["reacher", "pusher", "inverted_pendulum"])
def test_mujoco_rollout_reproduces_the_truth_env_exactly(task):
    starts, actions, obs = _stepped(task, [0, 1, 2], 6)
    out = BatchedTruth(task).rollout(starts, actions)
    assert out["state"].shape == obs.shape
    np.testing.assert_array_equal(out["state"], obs)  # Pusher's lagged body positions included


def test_bad_inputs_say_what_is_wrong():
    bt = BatchedTruth("reacher")
    starts, actions, _ = _stepped("reacher", [0], 2)
    with pytest.raises(ValueError, match="physics states"):
        bt.rollout(starts[:, :-1], actions)
    with pytest.raises(ValueError, match=r"actions must be \(N=1, T, 2\)"):
        bt.rollout(starts, actions[..., :1])
    with pytest.raises(ValueError, match="finite"):
        bt.rollout(starts, np.full_like(actions, np.nan))
    with pytest.raises(ValueError, match="backend"):
        bt.rollout(starts, actions, backend="bullet")


@pytest.mark.skipif(
    importlib.util.find_spec("mujoco.mjx") is None or importlib.util.find_spec("jax") is None,
    reason="needs pip install 'wmgym[mjx]'",
)
def test_mjx_on_jax_cpu_agrees_with_mujoco():
    starts, actions, obs = _stepped("inverted_pendulum", [0, 1], 3)
    bt = BatchedTruth("inverted_pendulum")
    c, x = bt.rollout(starts, actions), bt.rollout(starts, actions, backend="mjx")
    np.testing.assert_allclose(x["physics_state"], c["physics_state"], atol=1e-8)
    np.testing.assert_allclose(x["state"], obs, atol=1e-6)


def test_termination_follows_the_env_rule():
    env = TruthEnv("inverted_pendulum", obs_mode="state")
    env.reset(seed=0)
    start = env.get_physics_state()
    actions = np.full((1, 30, 1), 3.0)  # full push: the pole falls within a few steps
    terms = []
    for a in actions[0]:
        terms.append(env.step(a)[2])
        if terms[-1]:
            break
    out = BatchedTruth("inverted_pendulum").rollout(start[None], actions)
    first = int(np.argmax(out["terminated"][0]))
    assert out["terminated"][0].any() and first == len(terms) - 1
    assert not BatchedTruth("reacher").rollout(*_stepped("reacher", [0], 3)[:2])["terminated"].any()


def test_auto_backend_reproduces_the_truth_env():
    from wmgym.physics import default_backend

    assert default_backend() in ("mujoco", "mjx")
    starts, actions, obs = _stepped("reacher", [0], 2)
    np.testing.assert_array_equal(BatchedTruth("reacher").rollout(starts, actions, backend="auto")["state"], obs)
