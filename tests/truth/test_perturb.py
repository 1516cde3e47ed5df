"""Perturbed truth envs: off is nominal bit for bit, each change does exactly what it names, specs
round-trip and bad ones fail clearly, and perturbed envs stay seeded-deterministic and checkable."""

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import wmgym  # noqa: F401  (registers the ids)
from wmgym.physics import BatchedTruth
from wmgym.truth import TruthEnv
from wmgym.truth.perturb import DelaySpec, NoiseSpec, Perturbation, PhysicsChange, VisualSpec
from wmgym.truth.variants import get_perturbation, list_perturbations, tasks_with_variants


def _actions(env, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(env.action_space.low, env.action_space.high, (n, *env.action_space.shape)).astype(np.float32)


def _run(env, actions, seed=3):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        out.append(env.step(a)[0])
    return out


def _state(o):
    return o["state"] if isinstance(o, dict) else o


@pytest.mark.parametrize(
    "off",
    [
        None,
        Perturbation(),
        Perturbation(physics=(PhysicsChange("body_mass", ("body1",), scale=1.0),), delay=DelaySpec(0, 0)),
        {"name": "x", "perturb_spec": {"enable": False, "changes": [{"quantity": "body_mass", "scale": 9.0}]}},
    ],
)
def test_a_perturbation_that_is_off_is_the_nominal_env_bit_for_bit(off):
    nominal, other = TruthEnv("reacher"), TruthEnv("reacher", perturbation=off)
    acts = _actions(nominal, 12)
    for a, b in zip(_run(nominal, acts), _run(other, acts), strict=True):
        np.testing.assert_array_equal(a["pixels"], b["pixels"])
        np.testing.assert_array_equal(a["state"], b["state"])
    np.testing.assert_array_equal(nominal.get_physics_state(), other.get_physics_state())
    assert other.perturbation is None


def test_mass_change_scales_that_body_alone():
    nominal, heavy = (
        TruthEnv("reacher", obs_mode="state"),
        TruthEnv("reacher", obs_mode="state", perturbation="heavy-forearm"),
    )
    b = heavy.model.body("body1").id
    np.testing.assert_allclose(heavy.model.body_mass[b], 4 * nominal.model.body_mass[b])
    np.testing.assert_allclose(heavy.model.body_inertia[b], 4 * nominal.model.body_inertia[b])
    others = np.arange(nominal.model.nbody) != b
    np.testing.assert_array_equal(heavy.model.body_mass[others], nominal.model.body_mass[others])
    for field in ("dof_damping", "actuator_gainprm", "body_pos", "geom_size", "dof_armature"):
        np.testing.assert_array_equal(getattr(heavy.model, field), getattr(nominal.model, field))


@pytest.mark.parametrize(
    "change, field",
    [
        (PhysicsChange("joint_damping", ("joint1",), scale=8.0), "dof_damping"),
        (PhysicsChange("joint_friction", ("joint0",), offset=0.3), "dof_frictionloss"),
        (PhysicsChange("joint_armature", ("joint0", "joint1"), scale=0.1), "dof_armature"),
        (PhysicsChange("actuator_gain", ("joint0",), scale=0.35), "actuator_gainprm"),
        (PhysicsChange("actuator_bias", ("joint1",), offset=0.2), "actuator_biasprm"),
        (PhysicsChange("contact_friction", ("body0",), scale=0.5), "geom_friction"),
        (PhysicsChange("link_length", ("body1",), scale=1.5), "body_pos"),
    ],
)
def test_each_physics_change_changes_the_field_it_names(change, field):
    nominal = TruthEnv("reacher", obs_mode="state")
    env = TruthEnv("reacher", obs_mode="state", perturbation=Perturbation(physics=(change,)))
    changed = getattr(env.model, field) != getattr(nominal.model, field)
    assert changed.any()
    untouched = {"dof_damping", "dof_frictionloss", "dof_armature", "actuator_gainprm", "body_mass", "geom_friction"}
    for other in untouched - {field}:
        np.testing.assert_array_equal(getattr(env.model, other), getattr(nominal.model, other), err_msg=other)


def test_a_longer_forearm_moves_the_fingertip_out():
    nominal = TruthEnv("reacher", obs_mode="state")
    longer = TruthEnv(
        "reacher",
        obs_mode="state",
        perturbation=Perturbation(physics=(PhysicsChange("link_length", ("body1",), scale=1.5),)),
    )
    tip, body = nominal.model.body("fingertip").id, nominal.model.body("body1").id
    np.testing.assert_allclose(longer.model.body_pos[tip], 1.5 * nominal.model.body_pos[tip])
    np.testing.assert_array_equal(longer.model.body_pos[body], nominal.model.body_pos[body])  # the elbow stays


@pytest.mark.parametrize("k", [1, 3])
def test_action_delay_applies_each_action_k_steps_late(k):
    nominal = TruthEnv("reacher", obs_mode="state")
    late = TruthEnv("reacher", obs_mode="state", perturbation=Perturbation(delay=DelaySpec(actions=k)))
    acts = _actions(nominal, 10)
    shifted = np.concatenate([np.zeros((k, 2), np.float32), acts[:-k]])  # nothing reaches the motors at first
    for a, b in zip(_run(late, acts), _run(nominal, shifted), strict=True):
        np.testing.assert_array_equal(a, b)


def test_observation_delay_returns_the_reading_k_steps_old():
    nominal = TruthEnv("reacher")
    late = TruthEnv("reacher", perturbation=Perturbation(delay=DelaySpec(observations=2)))
    acts = _actions(nominal, 8)
    truth, seen = _run(nominal, acts), _run(late, acts)
    for t, o in enumerate(seen):
        old = truth[max(t - 2, 0)]
        np.testing.assert_array_equal(o["state"], old["state"])
        np.testing.assert_array_equal(o["pixels"], old["pixels"])


def test_gaussian_noise_and_offset_have_the_statistics_asked_for_on_the_entries_named():
    spec = Perturbation(noise=NoiseSpec(observations=0.05, offset=0.1, indices=(6, 7)))
    nominal, noisy = TruthEnv("reacher", obs_mode="state"), TruthEnv("reacher", obs_mode="state", perturbation=spec)
    acts = _actions(nominal, 49)
    diff = np.concatenate([np.stack(_run(noisy, acts, s)) - np.stack(_run(nominal, acts, s)) for s in range(20)])
    np.testing.assert_array_equal(diff[:, [0, 1, 2, 3, 4, 5, 8, 9]], 0)  # physics and other sensors untouched
    assert abs(diff[:, 6:8].mean() - 0.1) < 0.01
    assert abs(diff[:, 6:8].std() - 0.05) < 0.005


def test_dropped_readings_are_zero_and_stuck_ones_repeat_for_their_steps():
    dropped = Perturbation(noise=NoiseSpec(dropped_prob=0.2, dropped_steps=3, indices=(6,)))
    env = TruthEnv("reacher", obs_mode="state", perturbation=dropped)
    states = np.stack(_run(env, _actions(env, 200)))
    zero = states[:, 6] == 0
    assert 0.3 < zero.mean() < 0.6  # each drop lasts 3 steps: about 1 - 1 / (1 + 0.2 * 3) of them
    stuck = Perturbation(noise=NoiseSpec(stuck_prob=0.2, stuck_steps=2, indices=(6,)))
    env = TruthEnv("reacher", obs_mode="state", perturbation=stuck)
    states = np.stack(_run(env, _actions(env, 200)))
    repeats = np.diff(states[:, 6]) == 0
    assert 0.15 < repeats.mean() < 0.45
    assert (np.diff(states[:, 7]) != 0).mean() > 0.95  # entry 7 is not named


def test_camera_and_lights_change_pixels_not_physics():
    look = Perturbation(visual=VisualSpec(azimuth=20.0, light=0.5))
    nominal, moved = TruthEnv("reacher"), TruthEnv("reacher", perturbation=look)
    acts = _actions(nominal, 3)
    for a, b in zip(_run(nominal, acts), _run(moved, acts), strict=True):
        np.testing.assert_array_equal(a["state"], b["state"])
        assert not np.array_equal(a["pixels"], b["pixels"])


def test_perturbed_envs_are_seeded_deterministic_and_ranges_are_drawn_per_episode():
    a, b = TruthEnv("reacher", perturbation="hard"), TruthEnv("reacher", perturbation="hard")
    acts = _actions(a, 10)
    for x, y in zip(_run(a, acts, 7), _run(b, acts, 7), strict=True):
        np.testing.assert_array_equal(x["state"], y["state"])
        np.testing.assert_array_equal(x["pixels"], y["pixels"])
    draws = {json.dumps(a.reset(seed=s)[1]["perturbation"]["perturb_spec"]) for s in range(3)}
    assert len(draws) == 3
    assert a.reset(seed=1)[1]["perturbation"] == b.reset(seed=1)[1]["perturbation"]


@pytest.mark.parametrize("perturbation", ["strong-motors", "latency-2", "noisy-encoders", "hard"])
def test_perturbed_envs_pass_gymnasium_and_sb3_checks(perturbation):
    check_env(TruthEnv("reacher", perturbation=perturbation, render_mode="rgb_array"), skip_render_check=False)
    sb3_check_env(TruthEnv("reacher", obs_mode="state", perturbation=perturbation))


def test_a_pickled_perturbed_env_continues_exactly():
    env = TruthEnv("reacher", obs_mode="state", perturbation="hard")
    acts = _actions(env, 10)
    env.reset(seed=2)
    for x in acts[:5]:
        env.step(x)
    copy = pickle.loads(pickle.dumps(env))
    for x in acts[5:]:
        np.testing.assert_array_equal(env.step(x)[0], copy.step(x)[0])


def test_every_variant_has_its_own_registered_id():
    for task in tasks_with_variants():
        for name in list_perturbations(task):
            env = gym.make(wmgym.ids.perturbed_truth_env_id(task, name), obs_mode="state")
            assert env.unwrapped.perturbation == get_perturbation(task, name)
            env.reset(seed=0)
            env.step(env.action_space.sample())
            env.close()


def test_specs_round_trip_through_json():
    specs = [get_perturbation(t, n) for t in tasks_with_variants() for n in list_perturbations(t)]
    specs.append(
        Perturbation(
            "all",
            physics=(PhysicsChange("body_mass", ("body1",), scale=(0.5, 2.0)),),
            delay=DelaySpec(actions=(0, 2), observations=1),
            noise=NoiseSpec(observations=0.1, dropped_prob=0.1, dropped_steps=2, indices=(0, 1)),
            visual=VisualSpec(lookat=(0.01, (0.0, 0.02), 0.0), light=(0.5, 1.5)),
        )
    )
    for spec in specs:
        assert Perturbation.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_bad_specs_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no body named 'forearm'.*body0, body1"):
        TruthEnv("reacher", perturbation=Perturbation(physics=(PhysicsChange("body_mass", ("forearm",), 2.0),)))
    with pytest.raises(ValueError, match="body_mass scale must be positive"):
        PhysicsChange("body_mass", ("body1",), scale=-1.0)
    with pytest.raises(ValueError, match="unknown physics quantity 'mass'"):
        PhysicsChange("mass", ("body1",))
    with pytest.raises(ValueError, match="no actuator of task 'reacher' drives a joint 'target_x'"):
        TruthEnv("reacher", perturbation=Perturbation(physics=(PhysicsChange("actuator_gain", ("target_x",), 2.0),)))
    with pytest.raises(ValueError, match="makes a value of task 'reacher' negative"):
        TruthEnv("reacher", perturbation=Perturbation(physics=(PhysicsChange("joint_damping", (), offset=-5.0),)))
    with pytest.raises(ValueError, match="whole steps"):
        DelaySpec(actions=1.5)
    with pytest.raises(ValueError, match=r"noise indices \(12,\) reach past the 10 entries"):
        TruthEnv("reacher", perturbation=Perturbation(noise=NoiseSpec(observations=0.1, indices=(12,))))
    with pytest.raises(KeyError, match="unknown task 'reachr'"):
        TruthEnv("reachr", perturbation="strong-motors")
    with pytest.raises(KeyError, match="no perturbation 'strong-motor'.*Did you mean 'strong-motors'"):
        TruthEnv("reacher", perturbation="strong-motor")
    with pytest.raises(ValueError, match="unknown perturbation keys"):
        Perturbation.from_dict({"name": "x", "perturb": {}})
    with pytest.raises(FileNotFoundError):
        TruthEnv("reacher", perturbation=str(tmp_path / "missing.json"))


def test_a_spec_file_works_like_the_spec(tmp_path):
    file = tmp_path / "robot.json"
    file.write_text(json.dumps(get_perturbation("reacher", "strong-motors").to_dict()))
    assert TruthEnv("reacher", perturbation=str(file)).perturbation == get_perturbation("reacher", "strong-motors")


def test_batched_rollouts_simulate_a_physics_perturbation_as_the_env_does():
    env = TruthEnv("reacher", obs_mode="state", perturbation="light-rotors")
    acts = _actions(env, 6)
    env.reset(seed=4)
    start = env.get_physics_state()
    stepped = np.stack([env.step(a)[0] for a in acts])
    out = BatchedTruth("reacher", "light-rotors").rollout(start[None], acts[None])
    np.testing.assert_array_equal(out["state"][0], stepped)
    with pytest.raises(ValueError, match="step TruthEnv"):
        BatchedTruth("reacher", "latency-2")


def test_a_users_own_variant_gets_a_name_and_an_id():
    from wmgym.truth import register_perturbation

    mine = Perturbation("test-own-robot", physics=(PhysicsChange("joint_damping", ("joint0",), scale=3.0),))
    register_perturbation("reacher", mine)
    assert TruthEnv("reacher", perturbation="test-own-robot").perturbation == mine
    assert gym.make("wmgym/Reacher-test-own-robot-truth-v0").unwrapped.perturbation == mine
    with pytest.raises(ValueError, match="already has a variant"):
        register_perturbation("reacher", mine)
