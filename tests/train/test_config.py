"""TrainConfig: every field documented (the CLI's help comes from it), bad values refused when the
config is made, and the resume rule."""

import ast
import dataclasses
import inspect

import pytest
from tiny import tiny_config

from wmgym import checkpoint
from wmgym.errors import RunFolderError
from wmgym.train import TrainConfig, train
from wmgym.train.config import FIXED_ON_RESUME


def test_every_field_has_a_one_line_docstring_and_the_config_is_frozen():
    cls = next(
        node
        for node in ast.parse(inspect.getsource(inspect.getmodule(TrainConfig))).body
        if isinstance(node, ast.ClassDef) and node.name == "TrainConfig"
    )
    documented = {
        field.target.id
        for field, doc in zip(cls.body, cls.body[1:], strict=False)
        if isinstance(field, ast.AnnAssign)
        and isinstance(doc, ast.Expr)
        and isinstance(doc.value, ast.Constant)
        and doc.value.value.strip()
    }
    assert documented == {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"preset": "huge"}, "preset must be one of debug, small, base"),
        ({"precision": "fp16"}, "precision must be one of auto, bf16, fp32"),
        ({"steps": 0}, "steps must be a whole number of at least 1"),
        ({"steps": -1}, "steps must be"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"minutes": -1.0}, "minutes must be a positive number"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"seq_len": 1}, "seq_len must be a whole number of at least 2"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"grad_clip": -1.0}, "grad_clip must be"),
        ({"checkpoint_every": 0}, "checkpoint_every must be"),
        ({"eval_every": 0}, "eval_every must be"),
        ({"log_every": 0}, "log_every must be"),
        ({"eval_horizon": 0}, "eval_horizon must be"),
        ({"heldout_fraction": 1.0}, r"heldout_fraction must be in \[0, 1\)"),
        ({"heldout_fraction": -0.1}, "heldout_fraction must be"),
        ({"seed": -1}, "seed must be"),
        ({"device": ""}, "device must be"),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
        ({"learned_dim": -1}, "learned_dim must be a whole number of at least 0"),
        ({"learned_dim": 4, "preset": "small"}, "learned_dim needs an ensemble preset"),
        ({"horizon": 0, "preset": "ensemble-small"}, "horizon must be a whole number of at least 1"),
        ({"horizon": 4, "preset": "small"}, "horizon needs an ensemble preset"),
        ({"horizon": 32, "preset": "ensemble-small", "seq_len": 32}, "horizon must be below seq_len"),
        ({"members": 0, "preset": "ensemble-small"}, "members must be a whole number of at least 1"),
        ({"members": 3, "preset": "small"}, "members needs an ensemble preset"),
        ({"cnn_depth": 0, "preset": "ensemble-small"}, "cnn_depth must be a whole number of at least 1"),
        ({"cnn_depth": 8, "preset": "small"}, "cnn_depth needs an ensemble preset"),
    ],
)
def test_bad_values_are_refused_when_the_config_is_made(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_good_values_are_accepted():
    TrainConfig(steps=1, minutes=0.5, heldout_fraction=0.0, preset="debug", precision="fp32", device="cuda:1")


def test_resume_changes_allows_what_may_change_and_names_what_may_not():
    saved = TrainConfig(steps=10, lr=1e-3).to_dict()
    assert TrainConfig(steps=10, lr=1e-3).resume_changes(saved, "RUN") == {}
    changes = TrainConfig(steps=20, lr=1e-4, device="cpu").resume_changes(saved, "RUN")
    assert changes == {"lr": [1e-3, 1e-4], "steps": [10, 20], "device": ["auto", "cpu"]}
    for field in (f for f in FIXED_ON_RESUME if f != "proprio_only"):
        value = {"preset": "debug", "init_from": "reacher", "heldout_fraction": 0.5, "train_only": ("rssm",)}.get(
            field, 3
        )
        with pytest.raises(RunFolderError, match=f"cannot resume RUN with a different {field} "):
            TrainConfig(steps=10, lr=1e-3, **{field: value}).resume_changes(saved, "RUN")
    ensemble = TrainConfig(preset="ensemble-debug", steps=10).to_dict()
    with pytest.raises(RunFolderError, match="cannot resume RUN with a different proprio_only "):
        TrainConfig(preset="ensemble-debug", steps=10, proprio_only=True).resume_changes(ensemble, "RUN")
    del saved["grad_clip"]  # a field an older version did not save is not compared
    assert TrainConfig(steps=10, lr=1e-3, grad_clip=5.0).resume_changes(saved, "RUN") == {}


def test_weight_decay_makes_the_optimizer_adamw_and_zero_keeps_adam():
    import torch

    from wmgym.train.start import _adam

    net = torch.nn.Linear(3, 2)
    plain, decayed = _adam(net, TrainConfig()), _adam(net, TrainConfig(weight_decay=0.1))
    assert type(plain) is torch.optim.Adam and type(decayed) is torch.optim.AdamW
    assert decayed.param_groups[0]["weight_decay"] == 0.1


def test_the_open_loop_horizon_is_set_by_the_training_config(data, tmp_path):
    model = train([data], tmp_path / "run", tiny_config(preset="ensemble-debug", steps=1, horizon=7), progress=False)
    assert model.cfg.horizon == 7  # the debug preset's own is 4
    assert checkpoint.load_model(tmp_path / "run" / "checkpoint")[0].cfg.horizon == 7
