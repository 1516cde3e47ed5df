import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from wmgym.model.ensemble import EnsembleWorldModel, StateLatent
from wmgym.model.ensemble_config import (
    EnsembleConfig,
    ensemble_base,
    ensemble_debug,
    ensemble_preset,
    ensemble_small,
    proprio,
)

IMG = (16, 16)


def _cfg(**changes) -> EnsembleConfig:
    return ensemble_debug(state_dim=5, action_dim=2, image_size=IMG, members=3).replace(**changes)


def _batch(b=3, t=6, s=5, a=2, seed=0, pixels=None):
    g = torch.Generator().manual_seed(seed)
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    return {
        "pixels": torch.randint(0, 256, (b, t, *IMG, 3), dtype=torch.uint8, generator=g) if pixels is None else pixels,
        "state": torch.randn(b, t, s, generator=g),
        "action": torch.rand(b, t, a, generator=g) * 2 - 1,
        "reward": torch.randn(b, t, generator=g),
        "terminated": torch.zeros(b, t, dtype=torch.bool),
        "is_first": first,
    }


def _context(batch, k=4):
    return {key: batch[key][:, :k] for key in ("pixels", "state", "action", "is_first")}


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches run fastest on one thread, and far faster than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return EnsembleWorldModel(_cfg())


# -- 1. cases whose answer is known ----------------------------------------------------------------


@pytest.mark.parametrize(
    "horizon, first_at, expected",
    [
        # one window: s = 1 -> 2.5 -> 3.75 -> 4.625 against 2, 3, 4; errors^2 .25, .5625, .390625, weights 1, .5, .25
        (3, None, (0.25 + 0.5 * 0.5625 + 0.25 * 0.390625) / 1.75),
        # an episode starts at row 2: restart there from the truth (3), unscored; then 3 + 1.5 - 1 = 3.5 against 4
        (3, 2, (0.25 + 0.25 * 0.25) / 1.25),
        # two windows of 2 steps, from rows 0 and 1: (2.5, 3.75) against (2, 3), and (3, 3.5) against (3, 4)
        (2, None, (0.25 + 0.5 * 0.5625 + 0.0 + 0.5 * 0.25) / 3.0),
    ],
)
def test_open_loop_loss_matches_a_hand_computed_value(horizon, first_at, expected):
    cfg = ensemble_debug(state_dim=1, action_dim=1, image_size=IMG, members=1, layers=0, horizon=horizon, discount=0.5)
    model = EnsembleWorldModel(cfg)
    with torch.no_grad():  # linear dynamics: change = 0.5 s + 1.0 a
        model.dynamics.out.weight.copy_(torch.tensor([[[0.5], [1.0]]]))
        model.dynamics.out.bias.zero_()
    batch = _batch(b=1, t=4, s=1, a=1)
    batch["state"] = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    batch["action"] = torch.tensor([0.0, 1.0, 0.0, -1.0]).reshape(1, 4, 1)
    if first_at is not None:
        batch["is_first"][0, first_at] = True
    _, metrics = model.loss(batch)
    assert metrics["dynamics"] == pytest.approx(expected, rel=1e-6)


def _linear_system(episodes, steps, seed, noise):
    """An undamped oscillator driven by the action, and an integrator of its first coordinate."""
    g = torch.Generator().manual_seed(seed)
    c, s = math.cos(0.3), math.sin(0.3)
    a_mat = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.1, 0.0, 1.0]])
    b_mat = torch.tensor([0.0, 0.2, 0.0])
    action = torch.rand(episodes, steps, 1, generator=g) * 2 - 1
    action[:, 0] = 0
    xs = [torch.randn(episodes, 3, generator=g)]
    for t in range(1, steps):
        xs.append(xs[-1] @ a_mat.T + action[:, t] * b_mat)
    x = torch.stack(xs, 1)
    return x + noise * x.std((0, 1)) * torch.randn(x.shape, generator=g), action


def _fit(horizon, state, action, steps=250):
    """The debug preset's dynamics trained with the open-loop loss alone, on windows of 9 rows (a
    one-step fit, horizon 1, sees the same 8 transitions of each window)."""
    torch.manual_seed(0)
    model = EnsembleWorldModel(ensemble_debug(state_dim=3, action_dim=1, image_size=IMG, horizon=horizon))
    flat = state.reshape(-1, 3)
    model.set_data_statistics(flat.mean(0), flat.std(0), np.full((*IMG, 3), 100, np.uint8))
    opt = torch.optim.Adam(model.dynamics.parameters(), 5e-3)
    g = torch.Generator().manual_seed(0)
    n, t = state.shape[:2]
    frames = torch.full((16, 9, *IMG, 3), 100, dtype=torch.uint8)  # a full-state model only renders them
    for _ in range(steps):
        ep = torch.randint(0, n, (16, 1), generator=g)
        start = torch.randint(0, t - 8, (16, 1), generator=g)
        rows = start + torch.arange(9)
        first = torch.zeros(16, 9, dtype=torch.bool)
        first[:, 0] = start[:, 0] == 0
        seq = model.observe(frames, state[ep, rows], action[ep, rows], first)
        loss = model.rollout_loss(seq.state, seq.action, first)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_open_loop_fit_tracks_a_noisily_observed_linear_system_better_than_a_one_step_fit():
    """Observations carry noise (20% of the state's std). A one-step fit regresses on noisy inputs and
    shrinks the dynamics (the equation-error bias of system identification), which compounds along a
    rollout; the open-loop (output-error) fit does much less. Over 4 seeds, mean normalized RMS error
    over 20 steps: 0.16-0.18 open loop, 0.31-0.35 one step, 0.80-1.05 repeating the last state. (On
    noise-free data the one-step fit is consistent, and at equal updates it was the better one: 0.05
    against 0.07.)"""
    state, action = _linear_system(64, 40, seed=1, noise=0.2)
    truth, future = _linear_system(32, 30, seed=2, noise=0.0)
    context = _batch(b=32, t=2, s=3, a=1, pixels=torch.full((32, 2, *IMG, 3), 100, dtype=torch.uint8))
    context.update(state=truth[:, 4:6], action=future[:, 4:6])

    def error(model):
        pred = model.open_loop(_context(context, 2), future[:, 6:26], pixels=False)["state"]
        return float((((pred - truth[:, 6:26]) / model.state_std) ** 2).mean(-1).sqrt().mean())

    open_loop, one_step = _fit(8, state, action), _fit(1, state, action)
    repeat_last = float((((truth[:, 5:6] - truth[:, 6:26]) / open_loop.state_std) ** 2).mean(-1).sqrt().mean())
    assert error(open_loop) < 0.25
    assert error(open_loop) < 0.7 * error(one_step)
    assert error(open_loop) < 0.3 * repeat_last


# -- 2. the interface --------------------------------------------------------------------------------


def test_interface_shapes_and_dtypes(model):
    cfg, batch = model.cfg, _batch()
    latent = model.start(_context(batch))
    assert isinstance(latent, StateLatent) and all(x.shape[0] == 3 for x in latent)
    assert latent.features().shape == (3, cfg.latent_dim)
    assert latent.particles.shape == (3, cfg.members, cfg.latent_dim) and latent.member.shape == (3,)
    nxt, unc = model.step(latent, batch["action"][:, 4])
    assert nxt.state.shape == (3, cfg.latent_dim) and unc.shape == (3,)
    torch.testing.assert_close(nxt.prev, latent.state)
    lat, uncs = model.imagine(latent, batch["action"])
    assert lat.state.shape == (3, 6, cfg.latent_dim) and uncs.shape == (3, 6)
    assert model.state(lat).shape == (3, 6, 5) and model.reward(lat).shape == (3, 6)
    cont = model.cont(lat)
    assert cont.shape == (3, 6) and torch.all((cont >= 0) & (cont <= 1))
    assert model.terminated(lat).dtype == torch.bool
    frames = model.decode(lat)
    assert frames.shape == (3, 6, *IMG, 3) and frames.min() >= 0 and frames.max() <= 1
    assert model.frames(lat).dtype == torch.uint8
    with torch.no_grad():  # the in-place path gives the generic decode's values, and writes into no buffer
        background = model.background.clone()
        expected = (model.decode(lat) * 255).round().to(torch.uint8)
        torch.testing.assert_close(model.frames(lat), expected, rtol=0, atol=0)
        assert torch.equal(model.background, background)
    out = model.open_loop(_context(batch), batch["action"])
    assert set(out) == {"state", "reward", "cont", "terminated", "uncertainty", "pixels"}
    assert all(v.shape[:2] == (3, 6) for v in out.values()) and out["pixels"].dtype == torch.uint8
    assert "pixels" not in model.open_loop(_context(batch), batch["action"], pixels=False)
    # the dream env's generic update of some rows
    t = torch.tensor([0, 2])
    mixed = type(latent)(*(a.index_copy(0, t, b) for a, b in zip(latent, nxt.index(t), strict=True)))
    torch.testing.assert_close(mixed.state[1], latent.state[1])
    torch.testing.assert_close(mixed.state[2], nxt.state[2])
    torch.testing.assert_close(model.initial(4).state, torch.zeros(4, cfg.latent_dim))


def test_full_state_model_returns_the_context_state_exactly(model):
    batch = _batch()
    model.set_data_statistics(torch.rand(5), torch.rand(5) + 0.5, np.zeros((*IMG, 3), np.uint8))
    torch.testing.assert_close(model.state(model.start(_context(batch))), batch["state"][:, 3])


def test_mean_is_deterministic_and_uniform_picks_the_particle_for_good(model):
    latent = model.start(_context(_batch()))
    action = torch.rand(3, 2)
    a, _ = model.step(latent, action, sample=False)
    b, _ = model.step(latent, action, sample=False)
    torch.testing.assert_close(a.state, b.state, rtol=0, atol=0)
    preds = model.predict(latent, action)
    torch.testing.assert_close(a.state, preds.mean(0))
    members = torch.tensor([2, 0, 1])
    u = ((members + 0.5) / model.cfg.members).unsqueeze(-1)  # (B, noise_dim)
    assert u.shape[1] == model.noise_dim
    picked, _ = model.step(latent, action, sample=True, uniform=u)
    torch.testing.assert_close(picked.state, preds[members, torch.arange(3)], rtol=0, atol=0)
    assert torch.equal(picked.member, members) and not torch.allclose(picked.state, a.state)
    # TS-infinity: later draws do not move a row to another particle
    again, _ = model.step(picked, action, sample=True, uniform=torch.full((3, 1), 0.99))
    torch.testing.assert_close(again.state, model.predict(picked, action)[members, torch.arange(3)], rtol=0, atol=0)


def test_each_member_rolls_its_own_particle(model):
    batch = _batch(t=6)
    latent = model.start(_context(batch))
    lat, _ = model.imagine(latent, batch["action"], sample=False)
    for k in range(model.cfg.members):  # member k alone, rolled from the start state
        s = latent.state
        for t in range(6):
            x = torch.cat([s, batch["action"][:, t]], -1).expand(model.cfg.members, -1, -1)
            s = s + model.dynamics(x)[k].float()
        torch.testing.assert_close(lat.particles[:, -1, k], s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lat.state, lat.particles.mean(-2))


def test_uncertainty_is_the_particles_spread(model):
    batch = _batch(t=12)
    latent = model.start(_context(batch))
    lat, unc = model.imagine(latent, batch["action"], sample=True)
    assert torch.all(unc > 0)
    torch.testing.assert_close(unc, lat.particles.std(-2, correction=0).mean(-1))
    with torch.no_grad():  # members that agree have no uncertainty
        for p in model.dynamics.parameters():
            p.copy_(p[:1].expand_as(p))
    assert model.imagine(latent, batch["action"])[1].abs().max() < 1e-5


def test_legacy_uncertainty_configs_load_as_particles():
    d = ensemble_debug().to_dict()
    for legacy in ("step", "cumulative"):
        assert type(ensemble_debug()).from_dict({**d, "uncertainty": legacy}).uncertainty == "particles"


@torch.no_grad()
def test_bootstrap_weights_members_only_in_training(model):
    bagged = EnsembleWorldModel(model.cfg.replace(bootstrap=True))
    bagged.load_state_dict(model.state_dict())
    batch = _batch(t=8)
    seq = model.observe(batch["pixels"], batch["state"], batch["action"], batch["is_first"])
    plain = model.rollout_loss(seq.state, seq.action, batch["is_first"])
    torch.manual_seed(0)
    draws = {float(bagged.rollout_loss(seq.state, seq.action, batch["is_first"])) for _ in range(3)}
    assert len(draws) == 3 and all(math.isfinite(d) for d in draws)
    bagged.eval()
    torch.testing.assert_close(bagged.rollout_loss(seq.state, seq.action, batch["is_first"]), plain)


def test_reward_head_sees_the_action(model):
    latent = model.start(_context(_batch()))
    low = model.reward(latent._replace(action=torch.zeros(3, 2)))
    high = model.reward(latent._replace(action=torch.ones(3, 2)))
    assert (low - high).abs().min() > 0


def test_config_round_trip_presets_and_errors():
    cfg = proprio(ensemble_small(state_dim=10, action_dim=2), (0, 1, 2, 3, 6, 7), learned_dim=4)
    back = EnsembleConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and isinstance(back.input_state, tuple) and back.kind == "ensemble"
    assert cfg.latent_dim == 10 and ensemble_small(state_dim=10).latent_dim == 10
    assert ensemble_debug().hidden < ensemble_small().hidden < ensemble_base().hidden
    assert ensemble_preset("small", members=3).members == 3
    for make in (ensemble_debug, ensemble_small, ensemble_base):
        EnsembleWorldModel(make(state_dim=4, action_dim=1))
    with pytest.raises(ValueError, match="unknown preset"):
        ensemble_preset("huge")
    with pytest.raises(ValueError, match="uncertainty"):
        ensemble_debug(uncertainty="max")
    with pytest.raises(ValueError, match="reaches past"):
        ensemble_debug(state_dim=4, input_state=(0, 4))
    with pytest.raises(ValueError, match="action_dim and state_dim"):
        EnsembleWorldModel(ensemble_debug())
    with pytest.raises(ValueError, match="multiples of 16"):
        EnsembleWorldModel(_cfg(image_size=(60, 60)))


def test_safetensors_round_trip_gives_identical_outputs(model, tmp_path):
    model.set_data_statistics(torch.rand(5), torch.rand(5) + 0.5, np.full((*IMG, 3), 7, np.uint8))
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    torch.manual_seed(1)
    other = EnsembleWorldModel(model.cfg)
    other.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    batch = _batch()
    a, b = (m.open_loop(_context(batch), batch["action"]) for m in (model, other))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert torch.equal(other.background_frame(), torch.full((*IMG, 3), 7, dtype=torch.uint8))


def test_bf16_autocast_keeps_the_rolled_state_in_float32(model):
    latent = model.start(_context(_batch()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nxt, unc = model.step(latent, torch.rand(3, 2))
        frames = model.frames(nxt)
    assert nxt.state.dtype == torch.float32 and nxt.particles.dtype == torch.float32
    assert frames.dtype == torch.uint8 and torch.isfinite(unc).all()


# -- 3. proprioception only: the rest inferred from frames -------------------------------------------


def test_proprio_model_trains_through_the_encoder_and_steps():
    torch.manual_seed(0)
    model = EnsembleWorldModel(proprio(_cfg(horizon=3), (0, 1, 3), learned_dim=4))
    batch = _batch(t=6)
    batch["is_first"][1, 3] = True
    loss, metrics = model.loss(batch)
    assert torch.isfinite(loss) and metrics["state"] > 0 and metrics["dynamics"] > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    latent = model.start(_context(batch))
    assert latent.state.shape == (3, 3 + 4) and latent.state[:, 3:].abs().sum() > 0
    nxt, unc = model.step(latent, torch.rand(3, 2))
    state = model.state(nxt)
    assert state.shape == (3, 5) and torch.isfinite(state).all() and unc.shape == (3,)
    torch.testing.assert_close(state[:, [0, 1, 3]], nxt.state[:, :3] * model.state_std[[0, 1, 3]])


def test_only_the_renderers_rows_train_the_encoder_and_every_row_gets_the_same_z():
    torch.manual_seed(0)
    model = EnsembleWorldModel(_cfg(learned_dim=3, image_rows=2))
    batch = _batch(t=6)
    args = (batch["pixels"], batch["state"], batch["action"], batch["is_first"])
    rows = torch.tensor([4, 1])
    every, some = model.observe(*args), model.observe(*args, grad_rows=rows)
    torch.testing.assert_close(some.state, every.state)
    others = [r for r in range(6) if r not in rows.tolist()]
    some.state[:, others, 5:].sum().backward(retain_graph=True)  # z of rows outside grad_rows: no gradient
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.parameters())
    some.state[:, rows, 5:].sum().backward()
    assert any(p.grad is not None and p.grad.any() for p in model.encoder.parameters())
    loss, _ = model.loss(batch)  # the training loss takes that path, and trains the encoder through it
    model.zero_grad()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    model = EnsembleWorldModel(proprio(_cfg(bootstrap=True), (0, 1, 3), learned_dim=4)).cuda()
    batch = {k: v.cuda() for k, v in _batch().items()}
    loss, _ = model.loss(batch)
    loss.backward()
    latent = model.start(_context(batch))
    nxt, unc = model.step(latent, batch["action"][:, 0], uniform=torch.rand(3, 1))
    assert nxt.state.is_cuda and unc.is_cuda and model.frames(nxt).is_cuda


def test_member_mlp_gives_the_same_answer_with_and_without_gradients():
    from wmgym.model.ensemble_nets import EnsembleMLP

    torch.manual_seed(0)
    mlp = EnsembleMLP(members=3, inp=7, hidden=16, out=4, layers=2)
    with torch.no_grad():
        mlp.gain.normal_()  # not the identity LayerNorm affine it starts from
        mlp.shift.normal_()
    x = torch.randn(3, 5, 7)
    with torch.no_grad():
        fast = mlp(x)  # SiLU in place
    slow = mlp(x)
    torch.testing.assert_close(fast, slow, rtol=0, atol=0)
    h = x
    for i, layer in enumerate(mlp.hidden):  # the textbook form: LayerNorm, per-member affine, SiLU
        h = torch.nn.functional.silu(torch.nn.functional.layer_norm(layer(h), (16,)) * mlp.gain[:, i] + mlp.shift[:, i])
    torch.testing.assert_close(slow, mlp.out(h))
    slow.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in mlp.parameters())


def test_subpixel_conv_equals_the_transposed_conv():
    from wmgym.model.ensemble_nets import _subpixel

    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(5, 3, 4, 2, 1)
    x = torch.randn(2, 5, 6, 7)
    kernel, bias = _subpixel(deconv.weight, deconv.bias)
    shuffled = torch.nn.functional.conv2d(x, kernel, bias, padding=1)  # (2, (a, b, o), 6, 7)
    ours = shuffled.reshape(2, 2, 2, 3, 6, 7).permute(0, 3, 4, 1, 5, 2).reshape(2, 3, 12, 14)
    torch.testing.assert_close(ours, deconv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("chunk", [2, 256])
def test_inference_frames_equal_the_generic_decode(bf16, chunk):
    from wmgym.model.ensemble_nets import Renderer

    torch.manual_seed(0)
    renderer = Renderer((32, 16), depth=4, latent_dim=6, hidden=16).eval()
    background = torch.rand(32, 16, 3)
    feat = torch.randn(5, 6) * 3  # frames that also clip at 0 and 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        generic = ((renderer(feat).float() + background).clamp(0, 1) * 255).round()
        fast = renderer.frames(feat, background, chunk=chunk)
    assert fast.dtype == torch.uint8 and fast.shape == (5, 32, 16, 3)
    assert (generic == 0).any() and (generic == 255).any()  # frames that clip at both ends
    tol = 4 if bf16 else 1  # float rounding (bf16: 8 mantissa bits of a value near 1 are ~1 of 255)
    assert (fast.float() - generic).abs().max() <= tol
    assert (fast.float() == generic).float().mean() > (0.5 if bf16 else 0.99)


def test_a_start_from_only_what_start_reads_equals_a_start_from_every_key(model):
    """A full-state ensemble starts without frames (the dream gathers none at a reset); one with a frame
    encoder still reads them. Same latent either way."""
    from wmgym.model.context import ContextBank

    g = np.random.default_rng(0)
    bank = ContextBank(
        pixels=g.integers(0, 256, (6, 5, *IMG, 3), dtype=np.uint8),
        actions=g.uniform(-1, 1, (6, 4, 2)).astype(np.float32),
        state=g.normal(size=(6, 5, 5)).astype(np.float32),
    )
    idx = np.array([4, 1, 1])
    every = {k: torch.as_tensor(v) for k, v in bank.rows(idx).items()}
    proprio_model = EnsembleWorldModel(proprio(_cfg(horizon=3), (0, 1, 3), learned_dim=4))
    assert "pixels" not in model.start_reads and "pixels" in proprio_model.start_reads
    for m in (model, proprio_model):
        some = {k: torch.as_tensor(v) for k, v in bank.rows(idx, m.start_reads).items()}
        assert set(some) == set(m.start_reads)
        for k in some:
            assert torch.equal(some[k], every[k]), k
        for a, b in zip(m.start(some), m.start(every), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="context rows have no"):
        bank.rows(idx, ("state", "frames"))
