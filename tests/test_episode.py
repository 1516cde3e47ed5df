"""`run_episode`, the one policy loop, and the policy conventions it relies on."""

import gymnasium as gym
import numpy as np
import pytest

from wmgym.episode import run_episode
from wmgym.policies import ReplayPolicy, make_policy, parse_policy, policy_identity, policy_label
from wmgym.truth import TruthEnv


def test_an_episode_records_observations_actions_and_flags_in_the_sampler_convention():
    env = gym.make("Reacher-v5")
    ep = run_episode(env, make_policy("ou-noise", env), seed=3)
    assert len(ep) == 50 and ep.obs.shape == (51, 10) and ep.actions.shape == (50, 2)
    assert ep.truncated[-1] and not ep.terminated.any() and ep.ended
    assert ep.total_reward == pytest.approx(float(ep.rewards.sum()))
    again = run_episode(env, make_policy("ou-noise", env), seed=3)
    np.testing.assert_array_equal(ep.actions, again.actions)  # the policy's noise follows the seed


def test_a_step_budget_stops_early_and_a_plain_callable_is_a_policy():
    env = gym.make("InvertedPendulum-v5")
    ep = run_episode(env, lambda obs: np.zeros(1), seed=0, steps=7)
    assert len(ep) == 7 and not ep.ended


def test_physics_states_replay_the_episode_exactly():
    env = TruthEnv("reacher")
    ep = run_episode(env, make_policy("random", env), seed=1, steps=10, physics=True)
    assert ep.physics_state.shape[0] == 11
    start = {"physics_state": ep.physics_state[0]}
    replay = run_episode(env, ReplayPolicy(ep.actions), None, steps=len(ep), options=start)
    np.testing.assert_array_equal(replay.obs["pixels"], ep.obs["pixels"])
    np.testing.assert_array_equal(replay.obs["state"], ep.obs["state"])
    env.close()


def test_frames_renders_only_the_first_observations():
    env = TruthEnv("reacher", obs_mode="state", render_mode="rgb_array")
    ep = run_episode(env, make_policy("zero", env), seed=0, steps=6, frames=3)
    assert ep.frames.shape == (3, 64, 64, 3) and ep.obs.shape == (7, 10)
    env.close()


def test_policy_names_parse_one_way():
    assert parse_policy("sac.zip@0.3") == ("sac.zip", 0.3)
    assert parse_policy("random") == ("random", 0.0)
    assert policy_label("runs/p/sac_30k.zip@0.3") == "sac_30k.zip@0.3"
    with pytest.raises(ValueError, match="noise level"):
        parse_policy("x.zip@lots")
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("greedy", gym.make("Reacher-v5"))


def test_an_sb3_file_is_identified_by_its_bytes(tmp_path):
    a, b = tmp_path / "a" / "sac.zip", tmp_path / "b" / "sac.zip"
    a.parent.mkdir(), b.parent.mkdir()
    a.write_bytes(b"one"), b.write_bytes(b"two")
    assert policy_identity(str(a)) != policy_identity(str(b))
    assert policy_identity(str(a)).startswith("sb3:sac.zip#sha256=")
    assert policy_identity("ou-noise") == "ou-noise"


def test_zero_with_noise_is_small_seeded_torques_around_the_middle():
    env = gym.make("Hopper-v5")
    assert not make_policy("zero", env)(None).any()
    noisy = make_policy("zero@0.05", env)
    noisy.reset(np.random.default_rng(0))
    actions = np.array([noisy(None) for _ in range(2000)])
    assert abs(actions.std() - 0.05) < 0.005 and abs(actions.mean()) < 0.005  # Hopper's range is [-1, 1]
    again = make_policy("zero", env, noise=0.05)  # the argument, as collection passes it
    again.reset(np.random.default_rng(0))
    assert np.array_equal(actions[:5], [again(None) for _ in range(5)])
