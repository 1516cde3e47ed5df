"""Datasets of a perturbed robot record the perturbation, and replay in that robot."""

import json

import numpy as np
import pytest

from wmgym.data import DatasetExistsError, collect, dataset_perturbation, episode_seed, fingerprint, load_episodes
from wmgym.data.sampler import SequenceSampler
from wmgym.truth import TruthEnv
from wmgym.truth.variants import get_perturbation


def test_a_perturbed_collection_records_its_robot_and_replays_in_it(tmp_path):
    collect("reacher", 2, tmp_path / "d", policy="ou-noise", perturbation="strong-motors", progress=False)
    record = json.loads((tmp_path / "d" / "wmgym.json").read_text())
    assert record["perturbation"]["name"] == "strong-motors"
    assert "strong-motors" in record["dataset_id"]
    assert dataset_perturbation(tmp_path / "d") == get_perturbation("reacher", "strong-motors")
    _, eps = load_episodes(tmp_path / "d")
    env = TruthEnv("reacher", obs_mode="state", perturbation=dataset_perturbation(tmp_path / "d"))
    obs, _ = env.reset(seed=episode_seed(0, 1))
    for t, action in enumerate(eps[1].actions):
        obs, *_ = env.step(action)
        np.testing.assert_array_equal(obs, eps[1].state[t + 1])


def test_a_dataset_resumes_only_with_the_same_robot(tmp_path):
    collect("reacher", 1, tmp_path / "d", policy="ou-noise", perturbation="strong-motors", progress=False)
    with pytest.raises(DatasetExistsError, match="perturbation"):
        collect("reacher", 2, tmp_path / "d", policy="ou-noise", progress=False)
    assert (
        collect("reacher", 2, tmp_path / "d", policy="ou-noise", perturbation="strong-motors", progress=False).episodes
        == 2
    )


def test_nominal_datasets_keep_their_fingerprint_and_mix_with_perturbed_ones(tmp_path):
    collect("reacher", 2, tmp_path / "nominal", policy="ou-noise", progress=False)
    collect("reacher", 2, tmp_path / "robot", policy="ou-noise", perturbation="light-rotors", progress=False)
    record = json.loads((tmp_path / "nominal" / "wmgym.json").read_text())
    assert record["perturbation"] is None and dataset_perturbation(tmp_path / "nominal") is None
    assert fingerprint(tmp_path / "nominal") != fingerprint(tmp_path / "robot")
    sampler = SequenceSampler([tmp_path / "robot", tmp_path / "nominal"], 8, 4, heldout_fraction=0.0)
    assert len(sampler.episodes) == 4


def test_weights_set_each_datasets_share_of_the_windows(tmp_path):
    collect("reacher", 2, tmp_path / "a", policy="ou-noise", progress=False)
    collect("reacher", 6, tmp_path / "b", policy="random", progress=False)
    sampler = SequenceSampler([tmp_path / "a", tmp_path / "b"], 8, 500, heldout_fraction=0.0, weights=(3, 1))
    rows_of_a = {tuple(s) for ep in sampler.episodes[:2] for s in ep.state}
    windows = sampler.sample()["state"]
    share_a = np.mean([tuple(w[0]) in rows_of_a for w in windows])
    assert 0.68 < share_a < 0.82  # 3 / (3 + 1); unweighted, a would hold 1/4 of the windows
    with pytest.raises(ValueError, match="one share >= 0 per dataset"):
        SequenceSampler([tmp_path / "a", tmp_path / "b"], 8, 4, heldout_fraction=0.0, weights=(1,))
