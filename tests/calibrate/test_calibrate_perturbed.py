"""Calibration against a perturbed robot runs as against nominal MuJoCo."""

import numpy as np
import pytest

from wmgym.calibrate import CalibrationConfig, calibrate
from wmgym.calibrate.rollouts import record_truth, state_sweep_truth, stepped_sweep_truth
from wmgym.tasks import get_task

TINY = CalibrationConfig(episodes=2, state_episodes=2, horizon=5, policy_episodes=3, policy_steps=4, videos=False)


def test_calibrate_measures_against_the_perturbed_robot(dream_checkpoint, tmp_path):
    from dataclasses import replace

    card = calibrate(dream_checkpoint, tmp_path / "c", replace(TINY, perturbation="latency-2"), progress=False)
    assert card["perturbation"]["name"] == "latency-2"
    assert card["settings"]["perturbation"] == "latency-2"
    assert card["trust_horizon"]["steps"] is not None
    with pytest.raises(KeyError, match="no perturbation 'latency-9'"):
        calibrate(dream_checkpoint, tmp_path / "d", replace(TINY, perturbation="latency-9"), progress=False)


def test_the_rendered_pairs_come_from_the_robot():
    spec = get_task("reacher")
    nominal = record_truth(spec, "ou-noise", 2, 0, 2, 4)
    strong = record_truth(spec, "ou-noise", 2, 0, 2, 4, perturbation="strong-motors")
    np.testing.assert_array_equal(nominal.state[:, 0], strong.state[:, 0])  # the same starts
    assert not np.allclose(nominal.state[:, -1], strong.state[:, -1])  # driven by other motors
    np.testing.assert_array_equal(nominal.moving, record_truth(spec, "ou-noise", 2, 0, 2, 4).moving)


def test_batched_and_stepped_state_sweeps_agree_on_a_physics_perturbation():
    spec = get_task("reacher")
    batched = state_sweep_truth(spec, "ou-noise", 3, 5, 2, 6, "mujoco", "light-rotors")
    stepped = stepped_sweep_truth(spec, "ou-noise", 3, 5, 2, 6, "light-rotors")
    for key in ("action", "state", "valid", "start_physics"):
        np.testing.assert_allclose(batched[key], stepped[key], rtol=0, atol=1e-6, err_msg=key)
    delayed = state_sweep_truth(spec, "ou-noise", 3, 5, 2, 6, "mujoco", "latency-2")  # stepped: no error
    assert delayed["state"].shape == batched["state"].shape
