"""Training an ensemble's renderer and dynamics in two runs and joining them (`wmgym.train.parts`)."""

import json
import shutil

import pytest
import torch
from tiny import tiny_config

from wmgym import checkpoint
from wmgym.data import collect
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
    renderer's alone. A renderer of another depth comes with its depth into a run that trained no renderer
    of its own, and is refused by one that did (its optimizer holds the old renderer's state)."""
    rest, renderer = split_runs
    small = tmp_path / "small"
    train([data], small, _cfg(steps=2, cnn_depth=2, train_only=("renderer",)), progress=False)
    assert checkpoint.read_config(small)["model"]["cnn_depth"] == 2
    assert take_parts(small, rest, REST)["parts"] == list(REST)

    dyn = tmp_path / "dyn"
    shutil.copytree(rest, dyn)
    before, theirs = _weights(dyn), _weights(small)
    record = take_parts(dyn, small, ("renderer",))
    assert record["renderer_config"]["cnn_depth"] == 2
    joined, config = checkpoint.load_model(dyn)
    assert joined.cfg.cnn_depth == 2 and config["model"]["cnn_depth"] == 2
    assert json.loads((dyn / "config.json").read_text())["model"]["cnn_depth"] == 2
    for k, v in joined.state_dict().items():
        assert torch.equal(v, theirs[k] if k.startswith("renderer.") else before[k]), k
    step = checkpoint.read_config(dyn)["step"]
    train([data], dyn, _cfg(steps=step + 2, train_only=REST), progress=False)  # the joined run resumes
    assert checkpoint.read_config(dyn)["step"] == step + 2

    whole = tmp_path / "whole"
    train([data], whole, _cfg(steps=1), progress=False)
    saved = (whole / "checkpoint" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="the whole model trained in the run taking it"):
        take_parts(whole, small, ("renderer",))
    assert (whole / "checkpoint" / "model.safetensors").read_bytes() == saved


def test_a_renderer_trained_on_other_data_draws_the_same_frames_beside_other_dynamics(data, split_runs, tmp_path):
    """A renderer joins dynamics trained on other data of the task: their normalization differs, and is
    folded into its first layer, and its background comes with it, so it draws the frame it drew before
    for the same state. Only the renderer may cross data this way."""
    rest, renderer = split_runs
    other = tmp_path / "other-data"
    collect("reacher", 3, other, policy="random", workers=1, progress=False, seed=5)
    dyn = tmp_path / "dyn"
    train([str(other)], dyn, _cfg(steps=2, train_only=REST), progress=False)
    source, _ = checkpoint.load_model(renderer)
    mine, _ = checkpoint.load_model(dyn)
    assert not torch.equal(source.state_mean, mine.state_mean) and not torch.equal(source.background, mine.background)

    record = take_parts(dyn, renderer, ("renderer",))
    assert record["source_datasets"] == checkpoint.read_config(renderer)["datasets"] and "folded" in record
    joined, _ = checkpoint.load_model(dyn)
    state = torch.randn(6, 10) * 0.3 + source.state_mean  # states in the observation's own units
    action, first = torch.zeros(1, 6, 2), torch.ones(1, 6, dtype=torch.bool)

    def drawn(model):
        with torch.no_grad():
            return model.decode(model.observe(None, state[None], action, first))

    assert torch.allclose(drawn(joined), drawn(source), atol=1e-5)
    assert not torch.allclose(drawn(mine), drawn(source), atol=1e-3)
    assert torch.equal(joined.state_mean, mine.state_mean)  # the dynamics keep their own normalization
    with pytest.raises(ValueError, match="only a renderer can be taken from a run of other data"):
        take_parts(dyn, rest, REST)


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


def test_wmgym_join_takes_a_renderer_and_says_why_it_cannot(data, split_runs, tmp_path, capsys):
    from wmgym.cli import main

    rest, renderer = split_runs
    dyn = tmp_path / "dyn"
    shutil.copytree(rest, dyn)
    assert main(["join", "--out", str(dyn), "--source", str(renderer)]) == 0
    assert f"{dyn}: renderer now from {renderer}" in capsys.readouterr().out
    assert checkpoint.read_config(dyn)["parts_from"][-1]["source"] == str(renderer)
    assert main(["join", "--out", str(tmp_path / "nothing"), "--source", str(renderer)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wmgym join: error:") and "not a wmgym training run" in err
