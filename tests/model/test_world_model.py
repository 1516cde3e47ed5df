import numpy as np
import pytest
import torch

from wmgym.model import WorldModel, WorldModelConfig
from wmgym.model.config import base, debug, preset, small
from wmgym.model.rssm import disagreement


def _batch(b=3, t=6, s=5, a=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    return {
        "pixels": torch.randint(0, 256, (b, t, 64, 64, 3), dtype=torch.uint8, generator=g),
        "state": torch.randn(b, t, s, generator=g),
        "action": torch.rand(b, t, a, generator=g) * 2 - 1,
        "reward": torch.randn(b, t, generator=g),
        "terminated": torch.zeros(b, t, dtype=torch.bool),
        "is_first": first,
    }


@pytest.fixture
def model():
    torch.manual_seed(0)
    return WorldModel(debug(state_dim=5, action_dim=2))


def test_interface_shapes(model):
    batch = _batch()
    embed = model.encode(batch["pixels"], batch["state"])
    assert embed.shape[:2] == (3, 6)
    seq, last, prior, post = model.observe(batch["pixels"], batch["state"], batch["action"], batch["is_first"])
    assert seq.deter.shape == (3, 6, model.cfg.deter)
    assert prior.shape == (3, 6, model.cfg.ensemble, model.cfg.stoch, model.cfg.classes)
    nxt, unc = model.step(last, batch["action"][:, 0])
    assert nxt.deter.shape == (3, model.cfg.deter) and unc.shape == (3,)
    lat, uncs = model.imagine(last, batch["action"])
    assert uncs.shape == (3, 6) and torch.all(uncs >= 0)
    frames = model.decode(lat)
    assert frames.shape == (3, 6, 64, 64, 3) and frames.min() >= 0 and frames.max() <= 1
    assert model.reward(lat).shape == (3, 6)
    cont = model.cont(lat)
    assert cont.shape == (3, 6) and torch.all((cont >= 0) & (cont <= 1))
    assert model.state(lat).shape == (3, 6, 5)


def test_is_first_resets_the_state(model):
    """Observing a sequence that starts a new episode must not depend on what came before."""
    batch = _batch(b=1, t=4)
    junk = model.initial(1)._replace(deter=torch.randn(1, model.cfg.deter))
    torch.manual_seed(1)
    a, *_ = model.observe(batch["pixels"], batch["state"], batch["action"], batch["is_first"])
    torch.manual_seed(1)
    b, *_ = model.observe(batch["pixels"], batch["state"], batch["action"], batch["is_first"], latent=junk)
    torch.testing.assert_close(a.deter, b.deter)


def test_loss_goes_down_when_overfitting_one_batch():
    torch.manual_seed(0)
    model = WorldModel(debug(state_dim=5, action_dim=2))
    model.set_data_statistics(np.zeros(5), np.ones(5), np.full((64, 64, 3), 128, np.uint8))
    batch = _batch(b=2, t=5)
    coarse = torch.randint(0, 256, (2, 1, 8, 8, 3), dtype=torch.uint8)  # learnable: blocky, constant in time
    batch["pixels"] = coarse.repeat_interleave(8, 2).repeat_interleave(8, 3).expand(2, 5, 64, 64, 3)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(60):
        loss, _ = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_disagreement_is_zero_when_members_agree_and_grows_with_spread():
    p = torch.full((1, 3, 4, 5), 0.2)
    assert disagreement(p, p.mean(-3)).item() == pytest.approx(0.0, abs=1e-6)
    q = p.clone()
    q[0, 0] = torch.tensor([0.9, 0.025, 0.025, 0.025, 0.025])
    assert disagreement(q, q.mean(-3)).item() > 0.05


def test_presets_build_and_run_one_step():
    for make in (debug, small, base):
        cfg = make(state_dim=4, action_dim=1)
        model = WorldModel(cfg)
        assert model.decode(model.initial(1)).shape == (1, 64, 64, 3)
    assert small().deter > debug().deter and base().deter > small().deter
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_config_round_trip_and_errors():
    cfg = small(state_dim=4, action_dim=1)
    assert WorldModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="action_dim and state_dim"):
        WorldModel(debug())
    with pytest.raises(ValueError, match="multiples of 16"):
        WorldModel(debug(state_dim=4, action_dim=1, image_size=(60, 60)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    model = WorldModel(debug(state_dim=5, action_dim=2)).cuda()
    batch = {k: v.cuda() for k, v in _batch().items()}
    loss, _ = model.loss(batch)
    loss.backward()
