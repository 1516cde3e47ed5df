import numpy as np
import pytest

from wmgym.data import SequenceSampler, collect, load_episodes, split_episodes


@pytest.fixture(scope="module")
def reacher_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "reacher"
    collect("reacher", 6, out, policy="ou-noise", workers=1, progress=False)
    return out


def test_batch_shapes_and_types(reacher_data):
    batch = SequenceSampler(reacher_data, seq_len=16, batch_size=5).sample()
    assert batch["pixels"].shape == (5, 16, 64, 64, 3) and batch["pixels"].dtype == np.uint8
    assert batch["state"].shape == (5, 16, 10) and batch["state"].dtype == np.float32
    assert batch["action"].shape == (5, 16, 2)
    assert batch["reward"].shape == batch["terminated"].shape == batch["is_first"].shape == (5, 16)


def test_rows_follow_the_replay_convention(reacher_data):
    _, eps = load_episodes(reacher_data)
    sampler = SequenceSampler(reacher_data, seq_len=51, batch_size=1, heldout_fraction=0.0)
    table = sampler._table  # rows of the one training table
    ep = eps[0]
    np.testing.assert_array_equal(table["pixels"][:51], ep.pixels)
    assert table["is_first"][0] and not table["is_first"][1:51].any() and table["is_first"][51]
    np.testing.assert_array_equal(table["action"][0], 0)
    np.testing.assert_array_equal(table["action"][1:51], ep.actions)  # action that led to row t
    np.testing.assert_array_equal(table["reward"][1:51], ep.rewards)  # reward received arriving at row t


def test_heldout_split_is_by_episode_disjoint_and_stable(reacher_data):
    split = split_episodes(6, 0.34, seed=0)
    assert len(split["heldout"]) == 2 and set(split["heldout"]).isdisjoint(split["train"])
    assert np.array_equal(split["heldout"], split_episodes(6, 0.34, seed=0)["heldout"])
    train = SequenceSampler(reacher_data, 8, 2, split="train", heldout_fraction=0.34)
    held = SequenceSampler(reacher_data, 8, 2, split="heldout", heldout_fraction=0.34)
    assert len(train.episodes) == 4 and len(held.episodes) == 2
    train_first = {ep.physics_state[0].tobytes() for ep in train.episodes}
    assert not train_first & {ep.physics_state[0].tobytes() for ep in held.episodes}


def test_state_dict_resumes_the_same_batches(reacher_data):
    a = SequenceSampler(reacher_data, 8, 3, seed=1)
    a.sample()
    saved = a.state_dict()
    expected = a.sample()
    b = SequenceSampler(reacher_data, 8, 3, seed=99)
    b.load_state_dict(saved)
    np.testing.assert_array_equal(b.sample()["pixels"], expected["pixels"])


def test_many_datasets_and_mismatched_tasks(reacher_data, tmp_path):
    other = tmp_path / "more"
    collect("reacher", 2, other, seed=5, workers=1, progress=False)
    both = SequenceSampler([reacher_data, other], 8, 2, heldout_fraction=0.0)
    assert both.num_frames == 8 * 51
    pend = tmp_path / "pend"
    collect("inverted_pendulum", 2, pend, workers=1, progress=False)
    with pytest.raises(ValueError, match="one task only"):
        SequenceSampler([reacher_data, pend], 8, 2)


def test_clear_errors(reacher_data, tmp_path):
    with pytest.raises(ValueError, match="fewer than seq_len"):
        SequenceSampler(reacher_data, seq_len=500, batch_size=1, split="heldout")
    with pytest.raises(FileNotFoundError, match="not a wmgym dataset"):
        SequenceSampler(tmp_path, 8, 2)
    with pytest.raises(ValueError, match="split"):
        SequenceSampler(reacher_data, 8, 2, split="test")


def test_other_split_holds_the_held_out_episodes(reacher_data):
    train = SequenceSampler(reacher_data, 8, 2, split="train", heldout_fraction=0.34)
    held = SequenceSampler(reacher_data, 8, 2, split="heldout", heldout_fraction=0.34)
    assert [e.physics_state[0].tobytes() for e in train.other_split] == [
        e.physics_state[0].tobytes() for e in held.episodes
    ]
