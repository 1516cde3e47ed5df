"""Inputs the dream envs cannot use fail at once, saying what was wrong and how to fix it."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmgym  # noqa: F401  (registers the ids)
from wmgym.checkpoint import CheckpointError
from wmgym.data import load_episodes
from wmgym.dream import DreamEnv, DreamVectorEnv
from wmgym.model import ContextBank


@pytest.fixture(scope="module")
def context(dream_checkpoint):
    _, eps = load_episodes(dream_checkpoint.parents[1] / "data")
    ep = eps[3]
    return {"pixels": ep.pixels[:5], "actions": ep.actions[:4].astype(np.float32), "state": ep.state[:5]}


@pytest.fixture(scope="module")
def env(dream_checkpoint):
    return DreamEnv(dream_checkpoint)


def test_float_pixels_are_refused_not_cast(env, context):
    scaled = context["pixels"].astype(np.float32) / 255
    with pytest.raises(ValueError, match=r"uint8 frames in \[0, 255\].*float32.*\(pixels \* 255\)\.round\(\)"):
        env.reset(options={"context": {**context, "pixels": scaled}})
    with pytest.raises(ValueError, match="uint8"):
        ContextBank(scaled[None], context["actions"][None], context["state"][None])


def test_integer_pixels_outside_uint8_are_refused_inside_are_accepted(env, context):
    with pytest.raises(ValueError, match=r"got int64 values in \[\d+, \d+\], which a cast to uint8 would wrap around"):
        env.reset(options={"context": {**context, "pixels": context["pixels"].astype(np.int64) + 300}})
    a, _ = env.reset(seed=0, options={"context": {**context, "pixels": context["pixels"].astype(np.int64)}})
    b, _ = env.reset(seed=0, options={"context": context})
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("key", "value"), [("state", np.nan), ("actions", np.inf)])
def test_non_finite_context_is_refused(env, context, key, value):
    bad = context[key].copy()
    bad[2, 1] = value
    with pytest.raises(ValueError, match=rf"NaN or inf in context {key} \(first at entry 0, step 2\)"):
        env.reset(options={"context": {**context, key: bad}})


def test_context_of_another_shape_or_task_is_refused(env, context):
    with pytest.raises(ValueError, match=r"missing state"):
        env.reset(options={"context": {"pixels": context["pixels"], "actions": context["actions"]}})
    with pytest.raises(ValueError, match=r"context pixels for this 'reacher' model must be \(K\+1, 64, 64, 3\)"):
        env.reset(options={"context": {**context, "pixels": context["pixels"][:, :32]}})
    wider = np.concatenate([context["state"], context["state"]], axis=1)  # a state vector of another task
    with pytest.raises(ValueError, match="recorded on another task"):
        env.reset(options={"context": {**context, "state": wider}})


def test_reset_mask_must_be_one_bool_per_env(dream_checkpoint):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"reset_mask must be a bool array of shape \(3,\).*shape \(2,\)"):
        vec.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match=r"dtype int64.*indices\? build a mask"):
        vec.reset(options={"reset_mask": np.array([0, 1, 0])})
    vec.reset(options={"reset_mask": [False, True, False]})  # a list of bools is a mask
    vec.reset(options={"reset_mask": torch.tensor([True, False, False])})


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "0.5", True])
def test_uncertainty_threshold_must_be_a_finite_number(dream_checkpoint, threshold):
    with pytest.raises(ValueError, match="uncertainty_threshold must be a finite number .* or None"):
        DreamVectorEnv.load(dream_checkpoint, num_envs=1, uncertainty_threshold=threshold)
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=1, uncertainty_threshold=None)
    with pytest.raises(ValueError, match="uncertainty_threshold"):
        vec.uncertainty_threshold = threshold
    vec.uncertainty_threshold = np.float32(2)
    assert vec.uncertainty_threshold == 2.0


def test_actions_of_wrong_shape_or_not_finite(env, dream_checkpoint):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="action must be finite.*policy's output"):
        env.step(np.array([np.nan, 0], np.float32))
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), one row per env"):
        vec.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"finite; got NaN or inf for env\(s\) \[1\]"):
        vec.step(np.array([[0, 0], [np.inf, 0], [0, 0]], np.float32))


def test_bad_array_type(dream_checkpoint):
    with pytest.raises(ValueError, match="array_type must be 'numpy'.* or 'torch'"):
        DreamVectorEnv.load(dream_checkpoint, num_envs=1, array_type="jax")


def test_unknown_model(tmp_path):
    with pytest.raises(CheckpointError, match="not a zoo name"):
        DreamEnv("no-such-model")
    with pytest.raises(CheckpointError, match="not a zoo name"):
        DreamEnv(tmp_path / "missing")


def test_registered_ids_refuse_a_model_of_another_task(dream_checkpoint):
    """The debug checkpoint is a reacher model: the Pusher id refuses it, the Reacher id takes it."""
    expected = r"world model of task 'reacher', but this env id serves task 'pusher': use gym.make\('wmgym/Reacher-v0'"
    with pytest.raises(ValueError, match=expected):
        gym.make("wmgym/Pusher-v0", model=str(dream_checkpoint))
    with pytest.raises(ValueError, match=expected):
        gym.make_vec("wmgym/Pusher-v0", num_envs=2, model=str(dream_checkpoint))
    with pytest.raises(ValueError, match=r"or wmgym\.DreamEnv\("):
        DreamEnv(dream_checkpoint, expected_task="pusher")
    obs, _ = gym.make("wmgym/Reacher-v0", model=str(dream_checkpoint)).reset(seed=0)
    assert obs.shape == (10,)
    assert gym.make_vec("wmgym/Reacher-v0", num_envs=2, model=str(dream_checkpoint)).reset(seed=0)[0].shape == (2, 10)
