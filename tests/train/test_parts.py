"""Training an ensemble's renderer and dynamics in two runs and joining them (`wmgym.train.parts`)."""

import json

import pytest
import torch
from tiny import tiny_config

from wmgym import checkpoint
from wmgym.errors import RunFolderError
from wmgym.model import EnsembleWorldModel
from wmgym.train import train
from wmgym.train.parts import take_parts

REST = ("dynamics", "reward_head", "cont_head")


def _cfg(**changes):
    return tiny_config(preset="ensemble-debug", **changes)


@pytest.fixture(scope="module")
def split_runs(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    train([data], root / "rest", _cfg(steps=3, train_only=REST), progress=False)
    train([data], root / "renderer", _cfg(steps=3, train_only=("renderer",)), progress=False)
    return root / "rest", root / "renderer"


def _weights(folder):
    return {k: v.clone() for k, v in checkpoint.load_model(folder)[0].state_dict().items()}


def test_the_loss_computes_only_the_terms_of_parts_that_train(data):
    from wmgym.data.sampler import SequenceSampler
    from wmgym.model.registry import build, preset_config

    sampler = SequenceSampler([data], 8, 2, "train", 0.0, seed=0)
    model = build(preset_config("ensemble-debug", state_dim=10, action_dim=2))
    batch = {k: torch.as_tensor(v) for k, v in sampler.sample().items()}
    assert {"dynamics", "image", "reward", "cont"} <= set(model.loss(batch)[1])
    model.requires_grad_(False)
    model.renderer.requires_grad_(True)
    assert set(model.loss(batch)[1]) == {"loss", "image"}
    model.requires_grad_(False)
    model.dynamics.requires_grad_(True)
    assert set(model.loss(batch)[1]) == {"loss", "dynamics"}
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="every part of the model is frozen"):
        model.loss(batch)


def test_joining_takes_the_renderer_from_one_run_and_the_rest_from_the_other(split_runs):
    rest, renderer = split_runs
    before, theirs = _weights(rest), _weights(renderer)
    assert not all(torch.equal(before[k], theirs[k]) for k in before if k.startswith("renderer."))
    record = take_parts(rest, renderer, ("renderer",))
    after = _weights(rest)
    for k, v in after.items():
        assert torch.equal(v, theirs[k] if k.startswith("renderer.") else before[k]), k
    config = checkpoint.read_config(rest)
    assert config["parts_from"] == [record] and record["parts"] == ["renderer"] and record["source_step"] == 3
    assert isinstance(checkpoint.load_model(rest)[0], EnsembleWorldModel)  # checksums verified on load


def test_a_joined_run_resumes_its_own_parts_with_the_taken_ones_kept(data, split_runs):
    rest, renderer = split_runs
    take_parts(rest, renderer, ("renderer",))
    joined = _weights(rest)
    train([data], rest, _cfg(steps=5, train_only=REST), progress=False)
    after = _weights(rest)
    assert checkpoint.read_config(rest)["step"] == 5
    assert all(torch.equal(after[k], joined[k]) for k in joined if k.startswith("renderer."))
    assert not all(torch.equal(after[k], joined[k]) for k in joined if k.startswith("dynamics."))


def test_runs_that_do_not_match_are_refused_and_nothing_changes(data, split_runs, tmp_path):
    rest, renderer = split_runs
    rssm = tmp_path / "rssm"
    train([data], rssm, tiny_config(steps=1), progress=False)
    saved = (rest / "checkpoint" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="differ in model"):
        take_parts(rest, rssm, ("renderer",))
    with pytest.raises(ValueError, match="'renderr' is no part of this model.*its parts: dynamics"):
        take_parts(rest, renderer, ("renderr",))
    with pytest.raises(RunFolderError, match="is not a wmgym training run"):
        take_parts(tmp_path / "nothing", renderer, ("renderer",))
    assert (rest / "checkpoint" / "model.safetensors").read_bytes() == saved
    assert json.loads((rest / "checkpoint" / "config.json").read_text())["step"] >= 3


def test_the_same_data_under_another_path_counts_as_the_same(data, split_runs, tmp_path):
    """The data are compared by content: a run trained on a link to the same datasets (a new run
    folder beside an old one's data) may take the old run's renderer."""
    _, renderer = split_runs
    linked = tmp_path / "linked-data"
    linked.symlink_to(data, target_is_directory=True)
    rest = tmp_path / "rest"
    train([str(linked)], rest, _cfg(steps=2, train_only=REST), progress=False)
    assert (
        checkpoint.read_config(rest)["datasets"][0]["path"] != checkpoint.read_config(renderer)["datasets"][0]["path"]
    )
    assert take_parts(rest, renderer, ("renderer",))["parts"] == ["renderer"]


def test_a_renderer_is_taken_across_dynamics_sizes_but_not_across_its_own(data, split_runs, tmp_path):
    """A run's dynamics may be retrained with another number of members beside a finished run's
    renderer (the renderer does not depend on them); the dynamics of a run with another number of
    members are refused, since their weights would not fit."""
    rest, renderer = split_runs
    three = tmp_path / "three"
    train([data], three, _cfg(steps=2, members=3, train_only=REST), progress=False)
    assert checkpoint.read_config(three)["model"]["members"] == 3
    assert take_parts(three, renderer, ("renderer",))["parts"] == ["renderer"]
    with pytest.raises(ValueError, match="differ in model"):
        take_parts(rest, three, REST)


def test_dynamics_are_taken_beside_a_renderer_of_another_depth(data, split_runs, tmp_path):
    """A smaller renderer (cnn_depth) may be trained beside a finished run's dynamics: depth is the
    renderer's alone. A renderer of another depth is refused, since its weights would not fit."""
    rest, renderer = split_runs
    small = tmp_path / "small"
    train([data], small, _cfg(steps=2, cnn_depth=2, train_only=("renderer",)), progress=False)
    assert checkpoint.read_config(small)["model"]["cnn_depth"] == 2
    assert take_parts(small, rest, REST)["parts"] == list(REST)
    with pytest.raises(ValueError, match="differ in model"):
        take_parts(rest, small, ("renderer",))


def test_a_trained_model_gets_a_fresh_renderer_of_another_depth(data, split_runs, tmp_path):
    """init_from with another cnn_depth: the model's dynamics, heads and data statistics are kept, and a
    renderer of the new depth trains beside them (a cheaper renderer for dynamics already trained)."""
    rest, _ = split_runs
    base = _weights(rest)
    out = tmp_path / "d2"
    train([data], out, _cfg(steps=2, init_from=str(rest), cnn_depth=2, train_only=("renderer",)), progress=False)
    model, config = checkpoint.load_model(out)
    assert config["model"]["cnn_depth"] == 2
    assert config["model"] == {**checkpoint.read_config(rest)["model"], "cnn_depth": 2}
    after = model.state_dict()
    for k, v in after.items():
        if not k.startswith("renderer."):
            assert torch.equal(v, base[k]), k  # dynamics, heads, normalization and background kept
    assert after["renderer.deconv.0.weight"].shape != base["renderer.deconv.0.weight"].shape
    with pytest.raises(ValueError, match="leaves it untrained: add renderer"):
        train([data], tmp_path / "x", _cfg(steps=1, init_from=str(rest), cnn_depth=2, train_only=REST), progress=False)
    assert not (tmp_path / "x" / "checkpoint").exists()
