"""`adapt` end to end on a tiny model: fine-tunes on the robot's episodes, calibrates against the robot."""

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from wmgym.checkpoint import load_model
from wmgym.data import collect
from wmgym.gap import AdaptConfig, adapt
from wmgym.model.context import ContextBank

TINY = AdaptConfig(minutes=None, steps=2, calibration_episodes=2, calibration_state_episodes=2)


@pytest.fixture(scope="module")
def robot(tmp_path_factory):
    out = tmp_path_factory.mktemp("robot") / "data"
    collect("reacher", 3, out, policy="ou-noise", perturbation="light-rotors", progress=False)
    return out


def test_adapt_fine_tunes_the_dynamics_and_calibrates_against_the_robot(dream_checkpoint, robot, tmp_path):
    out = tmp_path / "adapted"
    summary = adapt(dream_checkpoint, [robot], out, TINY, progress=False)
    assert summary == json.loads((out / "adapt.json").read_text())
    assert summary["episodes_used"] == 3 and summary["perturbation"]["name"] == "light-rotors"
    assert summary["train"]["train_only"] == ["rssm"] and summary["train"]["heldout_fraction"] == 0
    for label in ("before", "after"):
        card = json.loads(Path(summary["calibration"][label]["card"]).read_text())
        assert card["perturbation"]["name"] == "light-rotors"
    before, after = load_model(dream_checkpoint)[0], load_model(out / "run")[0]
    frozen = dict(before.named_parameters())
    changed = {name for name, p in after.named_parameters() if not torch.equal(p, frozen[name])}
    assert changed and all(name.startswith("rssm.") for name in changed)  # the dynamics alone learned
    # the adapted dream starts from the robot's own episodes, and is a dream env like any other
    assert len(ContextBank.load(out / "run" / "checkpoint")) == 3
    env = gym.make("wmgym/Reacher-v0", model=str(out / "run"))
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_adapt_mixes_in_replay_data_at_the_share_asked_for(dream_checkpoint, robot, tmp_path):
    cfg = AdaptConfig(minutes=None, steps=1, real_share=0.75, train_only=(), anchor=0.0, calibrate=False)
    summary = adapt(dream_checkpoint, [robot], tmp_path / "a", cfg, progress=False)
    assert len(summary["replay"]) == 1  # the tiny model's own training data, still on disk
    assert summary["train"]["data_weights"] == [0.75, 0.25] and summary["train"]["train_only"] == []


def test_adapt_refuses_a_folder_it_did_not_write_and_mixed_robots(dream_checkpoint, robot, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not an earlier `wmgym adapt` folder"):
        adapt(dream_checkpoint, [robot], tmp_path / "mine", TINY, progress=False)
    other = tmp_path / "other"
    collect("reacher", 1, other, policy="ou-noise", perturbation="strong-motors", progress=False)
    with pytest.raises(ValueError, match="different robots"):
        adapt(dream_checkpoint, [robot, other], tmp_path / "x", TINY, progress=False)
    with pytest.raises(ValueError, match="real_share"):
        AdaptConfig(real_share=0.0)
