"""Fine-tuning without forgetting: train only some parts, pull toward the initial weights, weight datasets."""

import json

import pytest
import torch
from tiny import tiny_config

from wmgym.checkpoint import load_model
from wmgym.errors import RunFolderError
from wmgym.train import TrainConfig, train


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "run"
    train([data], out, tiny_config(steps=2), progress=False)
    return out / "checkpoint"


def _weights(folder):
    return {k: v.clone() for k, v in load_model(folder)[0].named_parameters()}


def test_train_only_leaves_every_other_part_exactly_as_it_was(data, base, tmp_path):
    train(
        [data],
        tmp_path / "ft",
        tiny_config(steps=3, init_from=str(base), train_only=("rssm",), lr=1e-2),
        progress=False,
    )
    before, after = _weights(base), _weights(tmp_path / "ft")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("rssm.") for k in changed)


def test_the_anchor_pulls_toward_the_initial_weights(data, base, tmp_path):
    def drift(anchor, out):
        cfg = tiny_config(steps=4, init_from=str(base), lr=3e-2, anchor=anchor)
        train([data], out, cfg, progress=False)
        before, after = _weights(base), _weights(out)
        return sum(float(((after[k] - before[k]) ** 2).sum()) for k in before)

    free, held = drift(0.0, tmp_path / "free"), drift(1e3, tmp_path / "held")
    assert held < free
    metrics = json.loads((tmp_path / "held" / "checkpoint" / "config.json").read_text())["metrics"]
    assert metrics["anchor_l2"] > 0


def test_fine_tuning_settings_are_checked(data, base, tmp_path):
    with pytest.raises(ValueError, match="anchor pulls the weights toward init_from"):
        TrainConfig(anchor=1.0)
    with pytest.raises(ValueError, match="data_weights must be shares"):
        TrainConfig(data_weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="train_only names 'dynamics'.*its parts: encoder, rssm"):
        train(
            [data], tmp_path / "a", tiny_config(steps=1, init_from=str(base), train_only=("dynamics",)), progress=False
        )
    with pytest.raises(ValueError, match="one share >= 0 per dataset"):
        train([data], tmp_path / "b", tiny_config(steps=1, data_weights=(1.0, 1.0)), progress=False)


def test_a_resume_keeps_the_parts_it_trains(data, base, tmp_path):
    cfg = tiny_config(steps=1, init_from=str(base), train_only=("rssm", "reward_head"))
    train([data], tmp_path / "run", cfg, progress=False)
    train(
        [data],
        tmp_path / "run",
        tiny_config(steps=2, init_from=str(base), train_only=("rssm", "reward_head")),
        progress=False,
    )
    with pytest.raises(RunFolderError, match="train_only"):
        train([data], tmp_path / "run", tiny_config(steps=3, init_from=str(base), train_only=("rssm",)), progress=False)


def test_a_new_renderer_depth_is_refused_for_a_model_without_a_state_renderer(data, base, tmp_path):
    cfg = tiny_config(steps=1, init_from=str(base), cnn_depth=2, preset="ensemble-debug")
    with pytest.raises(ValueError, match="a new renderer fits a full-state ensemble model only"):
        train([data], tmp_path / "ft", cfg, progress=False)
