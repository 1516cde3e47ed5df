"""Active calibration end to end on a tiny model (slow: it collects, fine-tunes and measures twice)."""

import json

import pytest

from wmgym.calibrate import CalibrationConfig, improve
from wmgym.calibrate.active import weak_starts
from wmgym.truth import TruthEnv

TINY = CalibrationConfig(episodes=2, state_episodes=4, horizon=5, policy_episodes=0)


def test_weak_starts_are_the_worst_candidates(dream_checkpoint):
    starts, found = weak_starts(dream_checkpoint, TINY, n=3, candidates=8, seed=0)
    assert starts.shape == (3, TruthEnv("reacher").get_physics_state().shape[0])
    assert found["picked"] == 3 and found["candidates"] == 8
    assert found["error_picked"] >= found["error_all"] or found["uncertainty_picked"] >= found["uncertainty_all"]


@pytest.mark.slow
def test_improve_collects_fine_tunes_and_measures_again(dream_checkpoint, tmp_path):
    card = improve(dream_checkpoint, tmp_path, rounds=1, config=TINY, minutes=0.05, episodes=4, progress=False)
    hist = card["improve"]["history"]
    assert [h["label"] for h in hist] == ["before", "after round 1"]
    assert (tmp_path / "round1" / "run" / "checkpoint" / "model.safetensors").is_file()
    assert (tmp_path / "round1" / "data-targeted" / "wmgym.json").is_file()
    assert json.loads((tmp_path / "card.json").read_text())["improve"]["rounds"] == 1
    assert "Active calibration" in (tmp_path / "report.md").read_text()


def test_improve_refuses_a_folder_that_is_not_empty_and_leaves_it_alone(dream_checkpoint, tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(FileExistsError, match=f"{tmp_path} exists and is not empty"):
        improve(dream_checkpoint, tmp_path, rounds=1, config=TINY, minutes=0.05, episodes=4, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"] and (tmp_path / "notes.md").read_text() == "mine"
