import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from wmgym.data import load_episodes
from wmgym.dream import DreamEnv, DreamVectorEnv


@pytest.mark.parametrize("obs_mode", ["state", "pixels", "latent", ("pixels", "state")])
def test_gymnasium_check_env(dream_checkpoint, obs_mode):
    check_env(DreamEnv(dream_checkpoint, obs_mode=obs_mode, render_mode="rgb_array"), skip_render_check=False)


def test_sb3_check_env(dream_checkpoint):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(DreamEnv(dream_checkpoint), warn=True)


def _rollout(env, seed, n=12):
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(n):
        obs, r, *_ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        out.append((obs, r))
    return out


def test_seeded_rollouts_repeat_and_seeds_differ(dream_checkpoint):
    a, b, c = (DreamEnv(dream_checkpoint, obs_mode="pixels") for _ in range(3))
    ra, rb, rc = _rollout(a, 1), _rollout(b, 1), _rollout(c, 2)
    for x, y in zip(ra[1:], rb[1:], strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1] == y[1]
    assert any(not np.array_equal(x[0], z[0]) for x, z in zip(ra[1:], rc[1:], strict=True))


def test_vector_env_equals_single_envs(dream_checkpoint):
    n = 4
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=n)
    singles = [DreamEnv(dream_checkpoint) for _ in range(n)]
    vobs, _ = vec.reset(seed=10)
    sobs = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    np.testing.assert_allclose(vobs, np.stack(sobs), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(0)
    for _ in range(6):
        actions = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        vobs, vrew, *_ = vec.step(actions)
        steps = [e.step(a) for e, a in zip(singles, actions, strict=True)]
        np.testing.assert_allclose(vobs, np.stack([s[0] for s in steps]), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(vrew, [s[1] for s in steps], rtol=1e-4, atol=1e-4)


def test_partial_reset_touches_only_masked_envs(dream_checkpoint):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=3)
    vec.reset(seed=0)
    obs, *_ = vec.step(np.zeros((3, 2), np.float32))
    after, _ = vec.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(after[[0, 2]], obs[[0, 2]])
    assert not np.array_equal(after[1], obs[1])


def test_same_step_autoreset(dream_checkpoint):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=2, uncertainty_threshold=-1.0)  # every step truncates
    vec.reset(seed=0)
    obs, reward, terminated, truncated, info = vec.step(np.zeros((2, 2), np.float32))
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all() and info["final_obs"].shape == obs.shape
    assert vec.metadata["autoreset_mode"].name == "SAME_STEP"
    assert info["uncertainty"].shape == (2,)


def test_episode_truncates_at_the_spec_length(dream_checkpoint):
    env = DreamEnv(dream_checkpoint)
    env.reset(seed=0)
    flags = [env.step(np.zeros(2, np.float32))[3] for _ in range(env.task_spec.episode_length)]
    assert flags[-1] and not any(flags[:-1])


def test_reset_from_given_context(dream_checkpoint, tmp_path):
    _, eps = load_episodes(dream_checkpoint.parents[1] / "data")
    ep = eps[3]
    context = {"pixels": ep.pixels[:5], "actions": ep.actions[:4], "state": ep.state[:5]}
    a, b = DreamEnv(dream_checkpoint), DreamEnv(dream_checkpoint)
    oa, _ = a.reset(seed=0, options={"context": context})
    ob, _ = b.reset(seed=7, options={"context": context})
    np.testing.assert_array_equal(oa, ob)  # the context, not the seed, decides where it starts
    other = {"pixels": eps[4].pixels[:5], "actions": eps[4].actions[:4], "state": eps[4].state[:5]}
    assert not np.array_equal(a.reset(seed=0, options={"context": other})[0], oa)
    with pytest.raises(ValueError, match="context pixels"):
        a.reset(options={"context": {**context, "pixels": ep.pixels[:5, :32]}})


def test_zoo_models_register_gymnasium_ids(dream_checkpoint, tmp_path, monkeypatch):
    import shutil

    import gymnasium as gym

    import wmgym.zoo
    from wmgym import _registration

    zoo = tmp_path / "zoo"
    shutil.copytree(dream_checkpoint, zoo / "reacher")  # with the context the trainer saved beside it
    monkeypatch.setattr(wmgym.zoo, "ZOO", zoo)
    existed = "wmgym/Reacher-v0" in gym.registry
    gym.registry.pop("wmgym/Reacher-v0", None)
    _registration.register_envs()
    try:
        env = gym.make("wmgym/Reacher-v0")
        obs, _ = env.reset(seed=0)
        assert obs.shape == (10,)
        vec = gym.make_vec("wmgym/Reacher-v0", num_envs=5)
        assert isinstance(vec.unwrapped, DreamVectorEnv) and vec.reset(seed=0)[0].shape == (5, 10)
    finally:
        gym.registry.pop("wmgym/Reacher-v0", None)
        if existed:
            monkeypatch.undo()
            _registration.register_envs()


def test_bf16_precision_returns_float32_observations(dream_checkpoint):
    env = DreamVectorEnv.load(dream_checkpoint, num_envs=2, precision="bf16")
    env.reset(seed=0)
    obs, reward, *_ = env.step(np.zeros((2, 2), np.float32))
    assert obs.dtype == reward.dtype == np.float32 and np.isfinite(obs).all()
    with pytest.raises(ValueError, match="precision"):
        DreamVectorEnv.load(dream_checkpoint, num_envs=1, precision="fp8")


def test_context_index_starts_each_env_from_the_chosen_entry(dream_checkpoint):
    vec = DreamVectorEnv.load(dream_checkpoint, num_envs=3)
    bank = vec.context
    assert len(bank) >= 2
    obs, _ = vec.reset(seed=0, options={"context_index": [1, 0, 1]})
    np.testing.assert_allclose(obs[0], obs[2], rtol=1e-5, atol=1e-5)  # same entry, same start, whatever the seed
    single = DreamVectorEnv.load(dream_checkpoint, num_envs=1)
    one, _ = single.reset(seed=5, options={"context_index": [0]})
    np.testing.assert_allclose(obs[1], one[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="context_index must hold 3 entries"):
        vec.reset(options={"context_index": [0, 1]})
    with pytest.raises(ValueError, match="context_index"):
        vec.reset(options={"context_index": [0, 1, len(bank)]})


def _registered_dream_ids():
    import gymnasium as gym

    import wmgym  # noqa: F401  (registers the ids)

    return sorted(k for k in gym.registry if k.startswith("wmgym/") and "-truth-" not in k)


@pytest.mark.parametrize("env_id", _registered_dream_ids())
def test_every_registered_dream_id_passes_both_env_checkers(env_id):
    import gymnasium as gym
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(gym.make(env_id, render_mode="rgb_array").unwrapped, skip_render_check=False)
    sb3_check_env(gym.make(env_id).unwrapped, warn=True)
    vec = gym.make_vec(env_id, num_envs=4)
    obs, _ = vec.reset(seed=0)
    assert obs.shape[0] == 4
