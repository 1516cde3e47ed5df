"""The v2 (ensemble) world model through the whole house: trained by `train`, saved and loaded as a
checkpoint, stepped as a dream env, calibrated against MuJoCo; and its proprioception-only variant."""

import gymnasium as gym
import numpy as np
import pytest

from wmgym.calibrate import CalibrationConfig, calibrate
from wmgym.checkpoint import load_model
from wmgym.dream import DreamEnv, DreamVectorEnv
from wmgym.model import EnsembleWorldModel
from wmgym.train import TrainConfig, train


@pytest.fixture(scope="module", params=[False, True], ids=["full-state", "proprio-only"])
def ensemble_checkpoint(request, dream_checkpoint, tmp_path_factory):
    data = dream_checkpoint.parents[1] / "data"
    run = tmp_path_factory.mktemp("ensemble") / "run"
    cfg = TrainConfig(
        preset="ensemble-debug",
        proprio_only=request.param,
        steps=3,
        batch_size=2,
        seq_len=8,
        heldout_fraction=0.2,
        device="cpu",
    )
    train([data], run, cfg, progress=False)
    return run / "checkpoint", request.param


def test_it_trains_saves_and_loads_as_its_own_kind(ensemble_checkpoint):
    folder, proprio_only = ensemble_checkpoint
    model, config = load_model(folder)
    assert isinstance(model, EnsembleWorldModel) and config["model"]["kind"] == "ensemble"
    assert (model.cfg.input_state is not None) == proprio_only
    if proprio_only:
        assert model.cfg.input_state == (0, 1, 2, 3, 6, 7) and model.cfg.learned_dim > 0


def test_it_steps_as_a_dream_env_that_passes_gymnasiums_checker(ensemble_checkpoint):
    from gymnasium.utils.env_checker import check_env

    folder, _ = ensemble_checkpoint
    env = DreamEnv(folder, obs_mode=("state", "pixels"), render_mode="rgb_array")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs["state"].shape == (10,) and obs["pixels"].shape == (64, 64, 3)
    assert np.isfinite(reward) and info["uncertainty"] >= 0


def test_a_seeded_vector_env_of_it_repeats_itself_and_matches_single_envs(ensemble_checkpoint):
    folder, _ = ensemble_checkpoint
    vec = DreamVectorEnv.load(folder, num_envs=3)
    a = np.random.default_rng(0).uniform(-1, 1, (20, 3, 2)).astype(np.float32)

    def run(env, seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(20):
            out.append(env.step(a[t] if env is vec else a[t, 1])[0])
        return np.stack(out)

    first, again = run(vec, 7), run(vec, 7)
    np.testing.assert_array_equal(first, again)
    single = DreamEnv(folder)
    np.testing.assert_allclose(first[:, 1], run(single, 8), rtol=1e-5, atol=1e-5)


def test_it_calibrates_against_mujoco(ensemble_checkpoint, tmp_path):
    folder, _ = ensemble_checkpoint
    cfg = CalibrationConfig(episodes=2, state_episodes=2, horizon=4, policy_episodes=0, videos=False)
    card = calibrate(folder, tmp_path / "cal", cfg, progress=False)
    assert card["trust_horizon"]["of"] == 4 and "1" in card["by_horizon"]


def test_gym_make_vec_works_on_a_checkpoint_of_it(ensemble_checkpoint):
    folder, _ = ensemble_checkpoint
    from wmgym.dream.vector_env import make_vector_env

    envs = gym.wrappers.vector.RecordEpisodeStatistics(make_vector_env(num_envs=4, model=folder))
    envs.reset(seed=0)
    ended = []
    for _ in range(60):  # past the 50-step episode: autoreset and statistics
        _, _, _, _, info = envs.step(envs.action_space.sample())
        ended.append("episode" in info)
    assert any(ended)


def test_a_full_state_model_with_a_learned_part_infers_it_from_frames_and_rolls_it(dream_checkpoint, tmp_path):
    """learned_dim on a full-state model: the latent is the whole observation plus z from the frames
    (what HalfCheetah's scrolling floor needs); the dynamics roll both, the state comes back whole."""
    data = dream_checkpoint.parents[1] / "data"
    cfg = TrainConfig(preset="ensemble-debug", learned_dim=3, steps=2, batch_size=2, seq_len=8, device="cpu")
    train([data], tmp_path / "run", cfg, progress=False)
    model, _ = load_model(tmp_path / "run" / "checkpoint")
    assert model.cfg.input_state is None and model.cfg.learned_dim == 3 and model.encoder is not None
    env = DreamEnv(tmp_path / "run" / "checkpoint", obs_mode=("state", "latent"))
    obs, _ = env.reset(seed=0)
    assert obs["state"].shape == (10,) and obs["latent"].shape == (13,)
    for _ in range(3):
        obs, reward, *_ = env.step(env.action_space.sample())
    assert np.all(np.isfinite(obs["latent"])) and np.isfinite(reward)
