"""`calibrate` end to end on a tiny model: the card, the report and its plots, clear errors."""

import json

import numpy as np
import pytest

from wmgym.calibrate import CalibrationConfig, calibrate
from wmgym.calibrate.rollouts import dream_open_loop, record_truth
from wmgym.cli import main
from wmgym.metrics import psnr
from wmgym.tasks import get_task
from wmgym.truth import TruthEnv

TINY = CalibrationConfig(episodes=4, state_episodes=4, horizon=6, policy_episodes=2, policy_steps=5)


@pytest.fixture(scope="module")
def card(dream_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("cal")
    return out, calibrate(dream_checkpoint, out, TINY, progress=False)


def test_card_report_plots_and_videos_are_written(card):
    out, c = card
    assert json.loads((out / "card.json").read_text()) == c
    for f in (
        "report.md",
        "error_vs_horizon.png",
        "uncertainty_vs_error.png",
        "returns.png",
        "rollout_worst.mp4",
        "rollout_typical.mp4",
    ):
        assert (out / f).stat().st_size > 1000, f
    report = (out / "report.md").read_text()
    assert "Trust horizon" in report and "![error vs horizon](error_vs_horizon.png)" in report


def test_card_holds_every_measurement(card):
    _, c = card
    assert set(c["by_horizon"]) == {"1", "5"}  # report horizons up to the horizon measured
    row = c["by_horizon"]["1"]
    for key in (
        "psnr",
        "ssim",
        "psnr_moving",
        "psnr_moving_repeat_last",
        "psnr_moving_background",
        "state_rmse",
        "reward_mae",
    ):
        assert np.isfinite(row[key]), key
    assert set(row["state_rmse_by_component"]) == {comp.name for comp in get_task("reacher").trust.components}
    th = c["trust_horizon"]
    assert 0 <= th["steps"] <= 6 and th["of"] == 6
    assert set(th["criteria"]) == {t.name for t in get_task("reacher").trust.tolerances}
    assert th["steps"] == min(cr["horizon"] for cr in th["criteria"].values())
    assert c["episodes"] == {"rendered": 4, "state_sweep": 4, "sources": ["ou-noise", "random"]}
    assert len(c["returns"]["by_policy"]) == 3 and "spearman" in c["returns"]
    assert {"spearman_pooled", "spearman_within_horizon", "coverage_90"} <= set(c["uncertainty"])


def test_paired_rollouts_start_from_the_same_physics_state():
    spec = get_task("reacher")
    batch = record_truth(spec, "ou-noise", 2, seed=5, context=3, horizon=4)
    env = TruthEnv("reacher")
    for i in range(2):
        obs, _ = env.reset(options={"physics_state": batch.start_physics[i]})
        # the last context frame: restoring recomputes body positions for the new joint angles, where
        # the stepped env drew them from before its last integration step, so a few pixels differ by 1
        assert psnr(obs["pixels"], batch.pixels[i, 3]) > 45
        np.testing.assert_array_equal(obs["state"][:8], batch.state[i, 3][:8])  # joint angles, target, velocities
        obs, *_ = env.step(batch.action[i, 3])  # the first paired step replays exactly
        np.testing.assert_array_equal(obs["pixels"], batch.pixels[i, 4])
    env.close()


def test_dream_prediction_starts_from_the_context(dream_checkpoint):
    from wmgym.checkpoint import load_model

    model, _ = load_model(dream_checkpoint)
    batch = record_truth(get_task("reacher"), "ou-noise", 2, seed=5, context=3, horizon=4)
    pred = dream_open_loop(model, batch.context_bank(), batch.action[:, 3:])
    assert pred["pixels"].shape == batch.pixels[:, 4:].shape
    assert pred["state"].shape == batch.state[:, 4:].shape and pred["uncertainty"].shape == (2, 4)


def test_unknown_model_and_task_mismatch_are_clear_errors(dream_checkpoint, tmp_path, capsys):
    assert main(["calibrate", "--model", "no-such-model", "--out", str(tmp_path / "x")]) == 2
    assert "no model 'no-such-model'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="trained on task 'reacher' and cannot be calibrated against .* 'pusher'"):
        calibrate(dream_checkpoint, tmp_path / "y", TINY, task="pusher", progress=False)
    assert not (tmp_path / "y").exists()
    with pytest.raises(ValueError, match="noise level"):
        calibrate(
            dream_checkpoint, tmp_path / "z", CalibrationConfig(episodes=2, policies=("x.zip@lots",)), progress=False
        )
