"""A team's own recorded data: LeRobot (v2.1, v3.0) and Minari datasets that wmgym did not collect,
with no MuJoCo env and no physics state, imported, trained on, dreamed in; calibration refuses."""

import gymnasium as gym
import numpy as np
import pytest
from recorded import CAMERA, episode, write_lerobot, write_minari

from wmgym.cli import main
from wmgym.data import DatasetExistsError, import_lerobot, import_minari, load_episodes
from wmgym.data.own import resize_frames
from wmgym.dream import DreamEnv
from wmgym.errors import NoTruthError
from wmgym.train import TrainConfig, train

TINY = dict(preset="ensemble-debug", steps=2, batch_size=2, seq_len=8, heldout_fraction=0.25, device="cpu")
TINY |= dict(eval_context=2, eval_horizon=4)


@pytest.fixture(scope="module")
def minari_id(tmp_path_factory):
    """A toy-robot dataset recorded by Minari's own DataCollector (JPEG frames), found by its id."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("minari")))
        write_minari("toy/point-v0", episodes=4)
        yield "toy/point-v0"


@pytest.fixture(scope="module")
def own_checkpoint(tmp_path_factory):
    """A proprioception-only ensemble trained briefly on an imported LeRobot v3.0 dataset."""
    root = tmp_path_factory.mktemp("own")
    import_lerobot(write_lerobot(root / "lerobot", "v3.0", episodes=4), root / "data", "toy", progress=False)
    train([root / "data"], root / "run", TrainConfig(proprio_only=True, **TINY), progress=False)
    return root / "run" / "checkpoint"


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_a_lerobot_dataset_imports_as_recorded_with_no_physics_state(version, tmp_path):
    result = import_lerobot(write_lerobot(tmp_path / "lr", version), tmp_path / "ds", "toy", progress=False)
    assert (result.version, result.episodes, result.camera, result.reward_key) == (version, 3, CAMERA, "next.reward")
    spec, eps = load_episodes(tmp_path / "ds")
    assert spec.gym_id is None and not spec.has_truth and spec.proprio == (0, 1, 2, 3) and spec.fps == 10
    assert spec.episode_length == 20 and spec.image_size == (64, 64)
    for i, ep in enumerate(eps):
        rec = episode(i, 20)  # LeRobot rows: 21 frames; the last action leads past the recording
        assert ep.physics_state is None and ep.pixels.shape == (21, 64, 64, 3) and len(ep) == 20
        np.testing.assert_array_equal(ep.state, rec["observation.state"])
        np.testing.assert_array_equal(ep.actions, rec["action"][:-1])
        np.testing.assert_array_equal(ep.rewards, rec["next.reward"][:-1])
        assert ep.truncations[-1] and not ep.truncations[:-1].any() and not ep.terminations.any()
        # each episode's own frames (v3.0: cut from one shared mp4 at its offset), resized
        err = np.abs(ep.pixels.astype(int) - resize_frames(rec["frames"], (64, 64))).mean()
        other = np.abs(ep.pixels.astype(int) - resize_frames(episode(i + 1, 20)["frames"], (64, 64))).mean()
        assert err < 2.0 < other


def test_a_minari_dataset_recorded_by_minari_imports_with_or_without_proprioception(minari_id, tmp_path):
    result = import_minari(minari_id, tmp_path / "with", "toy", state_keys=("joints",), progress=False)
    assert (result.episodes, result.pixels_key) == (4, "image")
    spec, eps = load_episodes(tmp_path / "with")
    assert spec.gym_id is None and spec.obs_keys == ("pixels", "state") and eps[0].state.shape == (21, 4)
    import_minari(minari_id, tmp_path / "without", "toy", progress=False)
    spec, eps = load_episodes(tmp_path / "without")
    assert spec.obs_keys == ("pixels",) and spec.proprio == () and eps[0].state.shape == (21, 0)
    assert eps[0].pixels.shape == (21, 64, 64, 3) and eps[0].truncations[-1]


def test_imports_refuse_what_they_cannot_read(tmp_path, minari_id):
    root = write_lerobot(tmp_path / "lr", "v2.1", episodes=1)
    import_lerobot(root, tmp_path / "ds", "toy", progress=False)
    with pytest.raises(DatasetExistsError, match="not empty"):
        import_lerobot(root, tmp_path / "ds", "toy", progress=False)
    with pytest.raises(ValueError, match="no camera 'wrist'.*observation.images.top"):
        import_lerobot(root, tmp_path / "a", "toy", camera="wrist", progress=False)
    with pytest.raises(ValueError, match="multiples of 16"):
        import_lerobot(root, tmp_path / "b", "toy", image_size=(60, 80), progress=False)
    info = root / "meta" / "info.json"
    info.write_text(info.read_text().replace('"v2.1"', '"v1.6"'))
    with pytest.raises(ValueError, match="'v1.6'.*reads v2.0, v2.1, v3.0"):
        import_lerobot(root, tmp_path / "c", "toy", progress=False)
    with pytest.raises(ValueError, match="not a vector of the observation"):
        import_minari(minari_id, tmp_path / "d", "toy", state_keys=("image",), progress=False)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no half-written import left


def test_the_cli_imports_and_says_how_to_train(tmp_path, capsys):
    root = write_lerobot(tmp_path / "lr", "v2.1", episodes=2)
    assert main(["import-lerobot", str(root), "--out", str(tmp_path / "ds"), "--task-name", "toy"]) == 0
    out = capsys.readouterr().out
    assert "2 episodes, 42 frames of LeRobot v2.1" in out and "wmgym train --data" in out and "--proprio-only" in out
    assert main(["video", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "ep.mp4")]) == 0
    assert (tmp_path / "ep.mp4").stat().st_size > 0


def test_a_model_of_recorded_data_dreams_with_uncertainty_and_passes_the_checkers(own_checkpoint):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = DreamEnv(own_checkpoint, obs_mode=("state", "pixels"))
    assert env.task_spec.gym_id is None and env.observation_space["state"].shape == (4,)
    check_env(env, skip_render_check=True)
    sb3_check_env(DreamEnv(own_checkpoint), warn=False)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=3)
        steps = [env.step(np.full(2, 0.5, np.float32)) for _ in range(5)]
        runs.append(np.stack([s[0]["state"] for s in steps]))
        assert all(np.isfinite(s[1]) and s[4]["uncertainty"] >= 0 for s in steps)
    np.testing.assert_array_equal(*runs)


def test_sb3_trains_in_the_dream_of_recorded_data_through_gym_make(own_checkpoint):
    from stable_baselines3 import PPO

    gym.register(id="ownDataTest/Toy-v0", entry_point="wmgym.dream.env:DreamEnv", kwargs={"model": str(own_checkpoint)})
    try:
        env = gym.make("ownDataTest/Toy-v0")
        PPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu").learn(32)
    finally:
        del gym.registry["ownDataTest/Toy-v0"]


def test_calibration_against_mujoco_refuses_a_model_of_recorded_data(own_checkpoint, tmp_path, capsys):
    from wmgym.calibrate import CalibrationConfig, calibrate

    with pytest.raises(NoTruthError, match="cannot calibrate .* against MuJoCo: task 'toy' has no MuJoCo env"):
        calibrate(own_checkpoint, tmp_path / "cal", CalibrationConfig(episodes=2, state_episodes=0), progress=False)
    assert main(["calibrate", "--model", str(own_checkpoint), "--out", str(tmp_path / "cal")]) == 2
    assert "has no MuJoCo env" in capsys.readouterr().err and not (tmp_path / "cal").exists()


def test_frames_alone_train_a_world_model_that_dreams_pixels(minari_id, tmp_path):
    import_minari(minari_id, tmp_path / "data", "toy", progress=False)
    with pytest.raises(ValueError, match=r"no state vector .*\(--proprio-only\)"):
        train([tmp_path / "data"], tmp_path / "refused", TrainConfig(**TINY), progress=False)
    train([tmp_path / "data"], tmp_path / "run", TrainConfig(proprio_only=True, **TINY), progress=False)
    with pytest.raises(ValueError, match="no state vector.*obs_mode='pixels'"):
        DreamEnv(tmp_path / "run")
    env = DreamEnv(tmp_path / "run", obs_mode=("pixels", "latent"))
    obs, _ = env.reset(seed=0)
    obs, reward, *_, info = env.step(env.action_space.sample())
    assert obs["pixels"].shape == (64, 64, 3) and obs["latent"].shape == (8,) and info["uncertainty"] >= 0


def test_a_registered_task_of_recorded_data_gets_no_env_id(monkeypatch, capsys):
    from wmgym._registration import register_envs
    from wmgym.data.own import own_task
    from wmgym.ids import dream_env_id
    from wmgym.tasks import suite

    monkeypatch.setitem(suite._TASKS, "toy", own_task("toy", state_dim=4, episode_length=20))
    register_envs()  # skips it: there is no MuJoCo env to register
    assert main(["tasks"]) == 0 and "(own data)" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no MuJoCo env"):
        dream_env_id("toy")
