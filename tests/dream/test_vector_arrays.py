"""The vector env returns numpy by default (gymnasium's vector wrappers work on it) and torch on request."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import wmgym  # noqa: F401  (registers the ids)
from wmgym.dream import DreamVectorEnv
from wmgym.tasks import get_task


def test_registered_ids_carry_the_episode_length():
    assert gym.spec("wmgym/Reacher-v0").max_episode_steps == 50
    for env_id in [k for k in gym.registry if k.startswith("wmgym/") and "-truth-" not in k]:
        task = gym.spec(env_id).kwargs["expected_task"]
        assert gym.spec(env_id).max_episode_steps == get_task(task).episode_length


def test_make_vec_returns_numpy_and_works_under_record_episode_statistics():
    envs = RecordEpisodeStatistics(gym.make_vec("wmgym/Reacher-v0", num_envs=3, max_episode_steps=4))
    obs, _ = envs.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.shape == (3, 10) and obs.dtype == np.float32
    rng = np.random.default_rng(0)
    returns, episodes = np.zeros(3), []
    for t in range(1, 11):
        obs, reward, terminated, truncated, info = envs.step(rng.uniform(-1, 1, (3, 2)).astype(np.float32))
        for x, dtype in ((obs, np.float32), (reward, np.float32), (terminated, np.bool_), (truncated, np.bool_)):
            assert isinstance(x, np.ndarray) and x.dtype == dtype and x.shape[0] == 3
        assert isinstance(info["uncertainty"], np.ndarray) and info["uncertainty"].shape == (3,)
        returns += reward
        if t % 4 == 0:  # every env truncates together and restarts in the same step
            assert truncated.all() and info["_episode"].all() and isinstance(info["final_obs"], np.ndarray)
            np.testing.assert_allclose(info["episode"]["r"], returns, rtol=1e-5)
            assert (info["episode"]["l"] == 4).all()
            episodes += list(returns)
            returns[:] = 0
        else:
            assert not truncated.any() and "episode" not in info
    np.testing.assert_allclose(list(envs.return_queue), episodes, rtol=1e-5)
    assert envs.episode_count == 6


def test_torch_option_returns_tensors_on_the_model_device_and_equal_values():
    vec = gym.make_vec("wmgym/Reacher-v0", num_envs=2, array_type="torch", obs_mode=["pixels", "state"])
    ref = gym.make_vec("wmgym/Reacher-v0", num_envs=2, obs_mode=["pixels", "state"])
    obs, _ = vec.reset(seed=1)
    np_obs, _ = ref.reset(seed=1)
    assert obs["pixels"].dtype == torch.uint8 and obs["state"].device == vec.unwrapped.device
    np.testing.assert_array_equal(obs["state"].numpy(), np_obs["state"])
    for actions in (np.zeros((2, 2), np.float32), torch.zeros(2, 2)):  # either kind of actions, in both modes
        out = vec.step(actions)
        np_out = ref.step(actions)
        assert all(torch.is_tensor(x) for x in out[1:4]) and torch.is_tensor(out[4]["uncertainty"])
        assert all(isinstance(x, np.ndarray) for x in np_out[1:4])
        np.testing.assert_array_equal(out[0]["pixels"].numpy(), np_out[0]["pixels"])
        np.testing.assert_array_equal(out[1].numpy(), np_out[1])


def test_torch_option_info_is_all_tensors(dream_checkpoint):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=2, uncertainty_threshold=-1.0, array_type="torch")
    vec.reset(seed=0)
    *_, info = vec.step(torch.zeros(2, 2))
    assert set(info) == {"uncertainty", "_uncertainty", "final_obs", "_final_obs"}
    assert all(torch.is_tensor(v) for v in info.values()) and info["_final_obs"].dtype == torch.bool


@pytest.mark.parametrize("array_type", ["numpy", "torch"])
def test_render_is_numpy_in_both_modes(dream_checkpoint, array_type):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=2, render_mode="rgb_array", array_type=array_type)
    vec.reset(seed=0)
    frames = vec.render()
    assert isinstance(frames, np.ndarray) and frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8


def test_small_cpu_batches_step_on_one_thread_and_leave_torchs_setting_as_it_was(dream_checkpoint):
    from wmgym.dream.vector_env import SMALL_BATCH, _step_threads

    cpu = torch.device("cpu")
    assert _step_threads(None, 1, cpu) == 1 and _step_threads(None, SMALL_BATCH + 1, cpu) is None
    assert _step_threads(3, 1024, cpu) == 3 and _step_threads(None, 1, torch.device("cuda")) is None
    with pytest.raises(ValueError, match="threads must be None or a positive int"):
        _step_threads(0, 1, cpu)
    before = torch.get_num_threads()
    env = DreamVectorEnv.load(dream_checkpoint, num_envs=2)
    env.reset(seed=0)
    env.step(np.zeros((2, 2), np.float32))
    assert torch.get_num_threads() == before


def test_precision_auto_is_accepted_and_resolves_to_a_real_precision(dream_checkpoint):
    env = DreamVectorEnv.load(dream_checkpoint, num_envs=2, precision="auto")
    env.reset(seed=0)
    env.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="precision must be one of"):
        DreamVectorEnv.load(dream_checkpoint, num_envs=2, precision="fp8")
