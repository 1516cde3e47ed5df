"""`calibrate` end to end on a tiny model: the card, the report and its plots, clear errors."""

import json
import re
from dataclasses import FrozenInstanceError, fields, replace

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
    for r in c["returns"]["by_policy"]:  # reacher never ends early: every episode runs the counted steps
        assert r["truth_length"] == r["dream_length"] == c["returns"]["steps"]
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


SKIPPY = CalibrationConfig(
    episodes=2,
    state_episodes=2,
    horizon=3,
    policy_episodes=2,
    policy_steps=3,
    baseline_policies=("zero",),
    videos=False,
)


def test_state_episodes_0_skips_the_state_sweep(dream_checkpoint, tmp_path):
    c = calibrate(dream_checkpoint, tmp_path, replace(SKIPPY, state_episodes=0), progress=False)
    assert c["episodes"]["state_sweep"] == 0 and c["episodes"]["rendered"] == 2
    assert c["uncertainty"]["pairs"] == 2 * 3  # the rendered pairs alone
    assert json.loads((tmp_path / "card.json").read_text()) == c
    assert "0 state-only pairs" in (tmp_path / "report.md").read_text()


def test_policy_episodes_0_skips_the_policy_returns(dream_checkpoint, tmp_path):
    c = calibrate(dream_checkpoint, tmp_path, replace(SKIPPY, policy_episodes=0), progress=False)
    assert c["returns"] is None and c["episodes"]["state_sweep"] == 2
    assert not (tmp_path / "returns.png").exists()
    assert "## Policies" not in (tmp_path / "report.md").read_text()


def test_a_folder_calibrate_did_not_write_is_refused_and_left_as_it_was(dream_checkpoint, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"report.md": b"# my notes\n", "card.json": b'{"mine": true}\n', "data.bin": bytes(range(256))}
    for name, data in files.items():
        (mine / name).write_bytes(data)
    with pytest.raises(FileExistsError, match=f"{mine}.*not an earlier calibration.*another --out"):
        calibrate(dream_checkpoint, mine, SKIPPY, progress=False)
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == files
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(FileExistsError, match="a-file"):
        calibrate(dream_checkpoint, tmp_path / "a-file", SKIPPY, progress=False)
    assert (tmp_path / "a-file").read_text() == "mine"


def test_an_earlier_calibration_is_replaced_with_no_stale_file_left(dream_checkpoint, tmp_path):
    first = calibrate(dream_checkpoint, tmp_path, SKIPPY, progress=False)  # into an empty folder
    assert first["wmgym"] == "calibration" and (tmp_path / "returns.png").is_file()
    second = calibrate(dream_checkpoint, tmp_path, replace(SKIPPY, policy_episodes=0), progress=False)
    assert json.loads((tmp_path / "card.json").read_text()) == second and second["returns"] is None
    assert not (tmp_path / "returns.png").exists()  # the first card's plot, not this one's


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"horizon": 0}, "horizon must be an integer >= 1"),
        ({"context": 0}, "context must be"),
        ({"episodes": 0}, "episodes must be"),
        ({"state_episodes": -1}, "state_episodes must be an integer >= 0"),
        ({"policy_episodes": -1}, "policy_episodes must be"),
        ({"policy_steps": 0}, "policy_steps must be"),
        ({"state_episodes": 1}, "split over the 2 behaviour policies"),
        ({"behaviour": ()}, "at least one policy"),
        ({"behaviour": ("sac.zip",)}, "ignore the state"),
        ({"baseline_policies": ("zero@x",)}, "noise level"),
        ({"physics_backend": "gpu"}, "physics_backend must be one of"),
    ],
)
def test_config_refuses_settings_it_cannot_measure(bad, message):
    with pytest.raises(ValueError, match=message):
        CalibrationConfig(**bad)


def test_every_config_field_says_what_it_is_for():
    """The CLI takes its flags' help from these docstrings."""
    import ast
    import inspect

    body = ast.parse(inspect.getsource(CalibrationConfig)).body[0].body
    documented = {
        node.target.id
        for node, after in zip(body, body[1:], strict=False)
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
    }
    assert documented == {f.name for f in fields(CalibrationConfig)}
    with pytest.raises(FrozenInstanceError):
        CalibrationConfig().horizon = 3


def test_an_episode_that_ends_is_padded_and_its_later_steps_invalid():
    batch = record_truth(get_task("inverted_pendulum"), "random", 3, seed=5, context=2, horizon=30)
    assert batch.terminated.any(axis=1).all()  # random torques drop the pole within 32 steps
    for i in range(3):
        end = int(np.flatnonzero(batch.terminated[i])[0])  # the step that ended the episode
        np.testing.assert_array_equal(batch.valid[i], 2 + np.arange(30) <= end)
        np.testing.assert_array_equal(batch.action[i, end + 1 :], 0)
        assert (batch.pixels[i, end + 1 :] == batch.pixels[i, end + 1]).all()  # the last frame, repeated
        assert not batch.reward[i, end + 1 :].any()


def test_a_policy_that_ends_every_episode_within_the_context_is_a_clear_error():
    from wmgym.calibrate.rollouts import episodes_past_context
    from wmgym.policies import make_policy

    env = TruthEnv("inverted_pendulum", obs_mode="state")
    with pytest.raises(RuntimeError, match="'random' ended 41 of 41 episodes .* within the 999 context steps"):
        list(episodes_past_context(env, make_policy("random", env), 1, seed=0, context=999))


@pytest.mark.parametrize("episodes", [1, 2])
def test_worst_and_typical_videos_are_different_rollouts_or_said_to_be_one(dream_checkpoint, tmp_path, episodes):
    cfg = replace(SKIPPY, episodes=episodes, behaviour=("ou-noise",), state_episodes=0, policy_episodes=0, videos=True)
    c = calibrate(dream_checkpoint, tmp_path, cfg, progress=False)
    report = (tmp_path / "report.md").read_text()
    assert (tmp_path / "rollout_worst.mp4").is_file() and c["files"]["video_worst"] == "rollout_worst.mp4"
    if episodes == 1:
        assert not (tmp_path / "rollout_typical.mp4").exists() and "video_typical" not in c["files"]
        assert "typical rollout: the same as the worst" in report
    else:
        assert (tmp_path / "rollout_typical.mp4").is_file()
        worst, typical = (re.search(rf"{n} rollout \(rollout (\d+)\)", report).group(1) for n in ("worst", "typical"))
        assert worst != typical


def test_report_shows_episode_lengths_where_a_dream_ends_episodes_early(card):
    import copy
    from collections import defaultdict

    from wmgym.calibrate.report import _markdown

    _, c = card
    early = copy.deepcopy(c)
    early["returns"]["by_policy"][0]["dream_length"] = 2.0  # the dream ended this policy's episodes early
    files = defaultdict(lambda: "file.png")
    assert "| MuJoCo steps | dream steps |" not in _markdown(c, files, {})  # none ended early
    lines = _markdown(early, files, {}).splitlines()
    row = next(line for line in lines if line.startswith(f"| {early['returns']['by_policy'][0]['policy']} |"))
    assert "| MuJoCo steps | dream steps |" in "\n".join(lines) and row.endswith(f"| {c['returns']['steps']} | 2 |")


def test_the_uncertainty_error_leaves_out_state_entries_that_do_not_vary():
    """Pusher's goal jitters by micrometres: divided by that spread, its float rounding would be the
    whole "error" and the uncertainty would be ranked against noise."""
    from wmgym.calibrate.run import scaled_state_error

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(40, 10, 3))
    truth[..., 2] = 0.5 + 1e-6 * rng.normal(size=(40, 10))  # a goal that does not move
    arm_error = rng.uniform(0, 1, size=(40, 10, 1))
    pred = truth + arm_error * np.array([1.0, 1.0, 0.0])
    pred[..., 2] += 1e-4 * rng.normal(size=(40, 10))  # float16 rounding of the constant entry
    valid = np.ones((40, 10), bool)
    err, left_out = scaled_state_error(pred, truth, valid)
    assert left_out == [2]
    spread = truth[..., :2].reshape(-1, 2).std(0)
    expected = np.sqrt(np.mean(((pred - truth)[..., :2] / spread) ** 2, -1))
    np.testing.assert_allclose(err, expected)
    assert np.corrcoef(err.ravel(), arm_error.ravel())[0, 1] > 0.99  # the arm's error, not the rounding's
    # exact constants (most of the state) must not drag the threshold to 0 and let jitter back in
    many = np.concatenate([truth, np.zeros((40, 10, 4))], -1)
    err2, left_out2 = scaled_state_error(np.concatenate([pred, np.zeros((40, 10, 4))], -1), many, valid)
    assert left_out2 == [2, 3, 4, 5, 6] and np.allclose(err2, expected)
    # nothing that varies: the error in the state's own units
    flat = np.zeros((4, 2, 2))
    err, left_out = scaled_state_error(flat + 1.0, flat, np.ones((4, 2), bool))
    assert left_out == [] and np.allclose(err, 1.0)
