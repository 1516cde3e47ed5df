"""`TrainConfig.lr_decay`: constant, then linear to 0 over the end of the budget."""

import time
from types import SimpleNamespace

import pytest
import torch
from tiny import tiny_config

from wmgym.checkpoint import read_config
from wmgym.train import TrainConfig, train
from wmgym.train.trainer import _lr_factor


def _run(step, first=0, steps=None, minutes=None, decay=0.25, started=None):
    cfg = SimpleNamespace(lr_decay=decay, steps=steps, minutes=minutes)
    return SimpleNamespace(config=cfg, step=step, first_step=first, started=started or time.perf_counter())


def test_the_factor_holds_then_falls_linearly_to_zero_by_steps():
    factors = [_lr_factor(_run(s, steps=100)) for s in (0, 50, 75, 80, 90, 100)]
    assert factors == pytest.approx([1.0, 1.0, 1.0, 0.8, 0.4, 0.0])
    assert _lr_factor(_run(90, steps=100, decay=0.0)) == 1.0


def test_steps_count_in_total_and_a_time_budget_follows_this_invocation_s_clock():
    assert _lr_factor(_run(90, first=50, steps=100)) == pytest.approx(0.4)  # resumed at 50: as uninterrupted
    assert _lr_factor(_run(0, minutes=1.0, started=time.perf_counter() - 54)) == pytest.approx(0.4, abs=0.01)
    # with both budgets, the one further along sets it
    assert _lr_factor(_run(10, steps=100, minutes=1.0, started=time.perf_counter() - 54)) == pytest.approx(
        0.4, abs=0.01
    )


def test_training_applies_it_and_logs_the_lr(data, tmp_path):
    train([data], tmp_path / "run", tiny_config(steps=4, lr=1e-3, lr_decay=0.5), progress=False)
    # the last step (3 of 4 done before it) ran at 1e-3 * (1 - 3/4) / 0.5
    assert read_config(tmp_path / "run")["metrics"]["lr"] == pytest.approx(5e-4)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x", True])
def test_a_decay_outside_the_budget_is_refused(bad):
    with pytest.raises(ValueError, match="lr_decay must be a share of the budget in"):
        TrainConfig(steps=1, lr_decay=bad)


def test_a_resumed_run_follows_the_schedule_it_would_have_followed_uninterrupted(data, tmp_path):
    def cfg(steps):
        return tiny_config(steps=steps, lr=1e-3, lr_decay=0.5, checkpoint_every=100)

    straight = train([data], tmp_path / "a", cfg(4), progress=False)
    train([data], tmp_path / "b", cfg(2), progress=False)
    resumed = train([data], tmp_path / "b", cfg(4), progress=False)
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0, msg=f"{k} differs after resume")
