import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import wmgym
from wmgym.tasks import TaskSpec, get_task, list_tasks
from wmgym.truth import TruthEnv

TASKS = list_tasks()


def _rollout(env, seed, n, actions_seed=0):
    rng = np.random.default_rng(actions_seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(n):
        obs, *_ = env.step(rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32))
        out.append(obs)
    return out


def test_suite_has_the_five_tasks():
    assert set(TASKS) >= {"inverted_pendulum", "reacher", "pusher", "half_cheetah", "hopper"}


@pytest.mark.parametrize("task", TASKS)
def test_gymnasium_check_env(task):
    env = gym.make(wmgym.truth_env_id(task), render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_seeded_rollouts_are_identical(task):
    a, b = TruthEnv(task), TruthEnv(task)
    for oa, ob in zip(_rollout(a, 3, 10), _rollout(b, 3, 10), strict=True):
        np.testing.assert_array_equal(oa["pixels"], ob["pixels"])
        np.testing.assert_array_equal(oa["state"], ob["state"])


@pytest.mark.parametrize("task", TASKS)
def test_observations_valid_and_not_shared(task):
    env = TruthEnv(task)
    obs = _rollout(env, 0, 5)
    for o in obs:
        assert env.observation_space.contains(o)
        assert np.all(np.isfinite(o["state"]))
    assert not np.shares_memory(obs[-1]["pixels"], obs[-2]["pixels"])
    assert not np.shares_memory(obs[-1]["state"], obs[-2]["state"])
    first = [env.reset(seed=s)[0]["state"] for s in range(3)]
    assert not np.array_equal(first[0], first[1]), "initial state must be randomized by the seed"


@pytest.mark.parametrize("task", TASKS)
def test_replay_from_physics_state_is_bit_exact(task):
    env = TruthEnv(task)
    rng = np.random.default_rng(1)
    env.reset(seed=5)
    states, frames, obs_states, actions = [env.get_physics_state()], [], [], []
    for _ in range(8):
        actions.append(rng.uniform(-1, 1, env.action_space.shape))
        obs, *_ = env.step(actions[-1])
        states.append(env.get_physics_state())
        frames.append(obs["pixels"])
        obs_states.append(obs["state"])
    replay = TruthEnv(task)
    replay.reset(seed=123)  # a different episode: everything must come from the restored state
    for t in [0, 3, 7]:
        replay.set_physics_state(states[t])
        obs, *_ = replay.step(actions[t])
        np.testing.assert_array_equal(obs["pixels"], frames[t])
        np.testing.assert_array_equal(obs["state"], obs_states[t])
        np.testing.assert_array_equal(replay.get_physics_state(), states[t + 1])


def test_reset_from_physics_state_renders_that_state():
    env = TruthEnv("reacher")
    obs0, _ = env.reset(seed=0)
    saved = env.get_physics_state()
    obs, _ = env.reset(seed=9, options={"physics_state": saved})
    np.testing.assert_array_equal(obs["pixels"], obs0["pixels"])
    np.testing.assert_array_equal(obs["state"], obs0["state"])


def test_enlarged_markers_leave_physics_unchanged():
    """Reacher's target and fingertip are drawn bigger; the trajectory must equal Reacher-v5's."""
    ours = TruthEnv("reacher", obs_mode="state")
    ref = gym.make("Reacher-v5").unwrapped
    assert ours.model.geom_size[ours.model.geom("target").id, 0] > ref.model.geom_size[ref.model.geom("target").id, 0]
    rng = np.random.default_rng(0)
    o1, _ = ours.reset(seed=4)
    o2, _ = ref.reset(seed=4)
    for _ in range(50):
        a = rng.uniform(-1, 1, 2)
        o1, r1, *_ = ours.step(a)
        o2, r2, *_ = ref.step(a)
        assert r1 == r2
        np.testing.assert_array_equal(o1, o2.astype(np.float32))
    np.testing.assert_array_equal(ours.data.qpos, ref.data.qpos)


@pytest.mark.parametrize(("task", "geoms"), [("reacher", ["target", "fingertip"]), ("pusher", None)])
def test_markers_are_visible(task, geoms):
    """Robot, object and goal each cover at least ~3x3 pixels at 64x64."""
    env = TruthEnv(task)
    env.reset(seed=0)
    seg = env.render_segmentation()
    m = env.model
    if geoms is None:  # pusher: the object and goal bodies' geoms
        geoms = [m.geom(g).name or g for g in range(m.ngeom) if m.body(m.geom_bodyid[g]).name in ("object", "goal")]
    for g in geoms:
        gid = m.geom(g).id if isinstance(g, str) else g
        assert (seg == gid).sum() >= 9, f"{task}: geom {g} covers {(seg == gid).sum()} pixels"


def test_truncates_at_episode_length():
    env = TruthEnv(get_task("reacher").replace(episode_length=3), obs_mode="state")
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_obs_modes():
    assert isinstance(TruthEnv("reacher", obs_mode="state").observation_space, gym.spaces.Box)
    pix = TruthEnv("reacher", obs_mode="pixels")
    assert pix.reset(seed=0)[0].shape == (64, 64, 3)
    with pytest.raises(ValueError, match="obs_mode"):
        TruthEnv("reacher", obs_mode="depth")


def test_render_at_larger_size():
    env = TruthEnv("reacher", render_mode="rgb_array", render_size=(128, 160))
    env.reset(seed=0)
    assert env.render().shape == (128, 160, 3)


def test_bad_inputs_have_clear_errors():
    with pytest.raises(KeyError, match="unknown task 'reachr'.*Did you mean 'reacher'"):
        TruthEnv("reachr")
    env = TruthEnv("reacher", obs_mode="state")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="another task"):
        env.set_physics_state(np.zeros(5))


def test_spec_json_round_trip():
    import json

    for task in TASKS:
        spec = get_task(task)
        assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_physics_state_is_integration_state():
    env = TruthEnv("reacher", obs_mode="state")
    env.reset(seed=0)
    assert env.get_physics_state().shape == (mujoco.mj_stateSize(env.model, mujoco.mjtState.mjSTATE_INTEGRATION),)
