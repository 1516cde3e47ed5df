"""The gap report's policy cache: a policy is reused only for the recipe it was trained by, and a
dream policy's recipe names its model's weights, so a model re-adapted at the same path retrains it."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from wmgym.gap import agents
from wmgym.gap.agents import Recipe, model_digest, train_policy
from wmgym.zoo import ZOO


class _Agent:
    trained = 0

    def learn(self, steps, callback=None):
        _Agent.trained += 1

    def save(self, out):
        Path(out).write_bytes(b"policy")


class _Venv:
    def close(self):
        pass


@pytest.fixture
def fake_training(monkeypatch):
    _Agent.trained = 0
    monkeypatch.setattr(agents, "_dream_envs", lambda recipe, device: _Venv())
    monkeypatch.setattr(agents, "_agent", lambda recipe, venv: _Agent())
    return _Agent


def test_model_digest_is_the_weights_hash_and_tells_models_apart(tmp_path):
    weights = ZOO / "reacher" / "model.safetensors"
    assert model_digest("reacher") == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert model_digest("reacher") != model_digest("pusher")
    copy = tmp_path / "model"
    shutil.copytree(ZOO / "reacher", copy)
    assert model_digest(copy) == model_digest("reacher")  # the weights, not the path


def test_a_policy_is_reused_for_its_recipe_and_retrained_for_another_model(tmp_path, fake_training):
    folder = tmp_path / "model"
    shutil.copytree(ZOO / "reacher", folder)
    out = tmp_path / "adapted.zip"
    recipe = Recipe("dream", "reacher", steps=10, model=str(folder), model_digest=model_digest(folder))
    train_policy(recipe, out, progress=False)
    train_policy(recipe, out, progress=False)
    assert fake_training.trained == 1 and json.loads(out.with_suffix(".json").read_text())["model_digest"]

    # the same folder now holds other weights (a robot re-adapted): the cached policy is stale
    shutil.copy(ZOO / "pusher" / "model.safetensors", folder / "model.safetensors")
    again = Recipe("dream", "reacher", steps=10, model=str(folder), model_digest=model_digest(folder))
    train_policy(again, out, progress=False)
    assert fake_training.trained == 2
