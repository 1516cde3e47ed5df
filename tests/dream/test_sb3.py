import numpy as np
from stable_baselines3 import PPO

from wmgym.dream.sb3 import sb3_vec_env


def test_ppo_trains_on_the_adapter(dream_checkpoint):
    env = sb3_vec_env(str(dream_checkpoint), n_envs=8)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, policy_kwargs={"net_arch": [16]}, seed=0)
    model.learn(256)
    assert model.num_timesteps >= 256


def test_adapter_reports_terminal_observations(dream_checkpoint):
    env = sb3_vec_env(str(dream_checkpoint), n_envs=3, uncertainty_threshold=-1.0)  # truncates every step
    env.seed(5)
    obs = env.reset()
    assert obs.shape == (3, 10) and obs.dtype == np.float32
    obs, rewards, dones, infos = env.step(np.zeros((3, 2), np.float32))
    assert dones.all() and rewards.shape == (3,)
    assert all(info["TimeLimit.truncated"] and info["terminal_observation"].shape == (10,) for info in infos)


def test_adapter_seed_makes_resets_repeat(dream_checkpoint):
    env = sb3_vec_env(str(dream_checkpoint), n_envs=2)
    env.seed(3)
    a = env.reset()
    env.seed(3)
    np.testing.assert_array_equal(env.reset(), a)
