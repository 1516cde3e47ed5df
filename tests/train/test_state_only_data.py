"""State-only datasets (``wmgym collect --no-pixels``): the dynamics of a full-state model train on them,
the renderer never sees them, and the two halves still join."""

import minari
import numpy as np
import pytest
import torch
from tiny import tiny_config

from wmgym import checkpoint
from wmgym.data import SequenceSampler, collect, load_episodes
from wmgym.data.store import DatasetExistsError, dataset_has_pixels, fingerprint
from wmgym.train import train
from wmgym.train.parts import take_parts

REST = ("dynamics", "reward_head", "cont_head")


@pytest.fixture(scope="module")
def state_data(tmp_path_factory):
    """12 unrendered OU-noise reacher episodes, another seed than the framed ones."""
    out = tmp_path_factory.mktemp("state") / "reacher-state"
    collect("reacher", 12, out, policy="ou-noise", seed=5, workers=1, progress=False, pixels=False)
    return out


def test_a_state_only_dataset_is_a_minari_dataset_without_frames(state_data, data):
    ds = minari.MinariDataset(state_data / "data")
    ep = next(ds.iterate_episodes())
    assert set(ep.observations) == {"state"} and ep.observations["state"].shape == (51, 10)
    _, eps = load_episodes(state_data)
    assert len(eps) == 12 and all(e.pixels is None and e.state.shape == (51, 10) for e in eps)
    assert not dataset_has_pixels(state_data) and dataset_has_pixels(data)
    assert fingerprint(state_data) != fingerprint(data)


def test_resuming_a_collection_must_repeat_whether_it_renders(state_data):
    with pytest.raises(DatasetExistsError, match="pixels"):
        collect("reacher", 14, state_data, policy="ou-noise", seed=5, workers=1, progress=False)
    assert len(load_episodes(state_data)[1]) == 12  # nothing lost


def test_a_sampler_with_frames_draws_only_from_framed_data_but_counts_all(data, state_data):
    framed = SequenceSampler([data, state_data], 8, 4, "train", 0.0, seed=0)
    assert len(framed.episodes) == 8 and len(framed.all_episodes) == 20
    assert framed.sample()["pixels"].shape == (4, 8, 64, 64, 3)
    frameless = SequenceSampler([data, state_data], 8, 4, "train", 0.0, seed=0, pixels=False)
    assert len(frameless.episodes) == len(frameless.all_episodes) == 20
    batch = frameless.sample()
    assert "pixels" not in batch and batch["state"].shape == (4, 8, 10)
    with pytest.raises(ValueError, match="none of the datasets .* has frames"):
        SequenceSampler([state_data], 8, 4)


def test_a_run_that_trains_every_part_refuses_state_only_data(data, state_data, tmp_path):
    with pytest.raises(ValueError, match="state-only data .* trains only a full-state ensemble's dynamics"):
        train([data, state_data], tmp_path / "run", tiny_config(preset="ensemble-debug", steps=1), progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_dynamics_on_state_only_data_join_a_renderer_trained_on_frames(data, state_data, tmp_path):
    both = [data, state_data]
    cfg = dict(preset="ensemble-debug", steps=3)
    rest = train(both, tmp_path / "rest", tiny_config(**cfg, train_only=REST), progress=False)
    renderer = train(both, tmp_path / "renderer", tiny_config(**cfg, train_only=("renderer",)), progress=False)
    # the same statistics (over the state-only episodes too), so the renderer draws the dynamics' latents
    assert torch.equal(rest.state_mean, renderer.state_mean) and torch.equal(rest.background, renderer.background)
    framed_only = np.concatenate([e.state for e in SequenceSampler([data], 8, 2, "train", 0.25).episodes])
    assert not np.allclose(rest.state_mean.numpy(), framed_only.mean(0))
    take_parts(tmp_path / "rest", tmp_path / "renderer", ("renderer",))
    joined, _ = checkpoint.load_model(tmp_path / "rest" / "checkpoint")
    for k, v in joined.state_dict().items():
        want = (renderer if k.startswith("renderer.") else rest).state_dict()[k]
        assert torch.equal(v, want), k
