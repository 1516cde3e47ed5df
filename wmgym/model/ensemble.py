"""`EnsembleWorldModel`: an ensemble of MLPs over the (normalized) state, trained open loop, with a renderer.

The latent is the env's own observation vector, normalized (or the entries of it that ``input_state``
names), plus a part z that a frame encoder infers for what those entries do not hold. Each of K
members predicts the latent's change from (latent, action); a rollout steps with the members' mean or
each member rolls its own trajectory (PETS's particles): a rollout follows their mean, or one
particle per row (TS-infinity), and their spread is the uncertainty. The members are trained
on their own open-loop rollouts of ``horizon`` steps (TD-MPC2's latent rollout loss), not one step at
a time, so what they learn is what a dream needs: not to drift.

Its whole interface, one short method each (the same as `WorldModel`'s, so the dream env, trainer and
calibration take either):

- `start`    real context (`ContextBank.rows`) -> the latent at its last frame
- `step`     latent, action -> next latent and uncertainty; `imagine`: many steps
- `state`    the env's observation vector, in its own units
- `reward`   sees the action (control costs); `cont`, `terminated`
- `decode`   latent -> frame (float RGB in [0, 1]); `frames`: the same as uint8
- `open_loop` context, then actions only: every head's prediction along the way
- `loss`     training loss of a batch from `wmgym.data.SequenceSampler`

Torch only. Batches follow the sampler's convention: row t holds observation t, the action that led
to it, the reward and termination on arriving.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from wmgym.model.base import WorldModelBase
from wmgym.model.context import ROW_KEYS
from wmgym.model.ensemble_config import EnsembleConfig
from wmgym.model.ensemble_nets import EnsembleMLP, FrameEncoder, Renderer
from wmgym.model.networks import mlp
from wmgym.model.world_model import symexp, symlog


class StateLatent(NamedTuple):
    """A latent state, batch first (any leading dims): ``state`` (B, D) the normalized input state and
    z, what the heads and renderer read; ``prev`` (B, D) the latent one step before; ``action`` (B, A)
    the action that led here; ``particles`` (B, K, D) each member's own rollout since `start`;
    ``member`` (B,) the particle a sampled row follows (-1: not chosen yet, or the particles' mean)."""

    state: torch.Tensor
    prev: torch.Tensor
    action: torch.Tensor
    particles: torch.Tensor
    member: torch.Tensor

    def features(self) -> torch.Tensor:
        """What a policy sees with ``obs_mode="latent"``: the state part (Markov where the env's is)."""
        return self.state

    def index(self, idx) -> StateLatent:
        return StateLatent(*(t[idx] for t in self))


class EnsembleWorldModel(WorldModelBase):
    def __init__(self, cfg: EnsembleConfig):
        super().__init__()
        if cfg.action_dim <= 0 or cfg.state_dim < 0 or cfg.latent_dim <= 0:
            # state_dim 0 (recorded frames without proprioception) works when frames give the latent
            raise ValueError(
                "EnsembleConfig needs action_dim and state_dim (set them from the dataset); with no state, "
                "learned_dim > 0"
            )
        h, w = cfg.image_size
        if h % 16 or w % 16:
            raise ValueError(f"image_size must be multiples of 16, got {cfg.image_size}")
        self.cfg = cfg
        inputs = list(range(cfg.state_dim)) if cfg.input_state is None else list(cfg.input_state)
        others = [i for i in range(cfg.state_dim) if i not in inputs]
        d, a = cfg.latent_dim, cfg.action_dim
        self.dynamics = EnsembleMLP(cfg.members, d + a, cfg.hidden, d, cfg.layers)
        self.encoder = (
            FrameEncoder(cfg.image_size, cfg.cnn_depth, len(inputs), cfg.hidden, cfg.learned_dim)
            if cfg.learned_dim
            else None
        )
        self.renderer = Renderer(cfg.image_size, cfg.cnn_depth, d, cfg.hidden)
        self.reward_head = mlp(2 * d + a, cfg.hidden, 1)
        self.cont_head = mlp(d, cfg.hidden, 1)
        self.state_head = mlp(d, cfg.hidden, len(others)) if others else None
        # Derived from cfg, so not saved: which observation entries the latent holds, and in what order.
        self.register_buffer("input_index", torch.tensor(inputs, dtype=torch.long), persistent=False)
        self.register_buffer("other_index", torch.tensor(others, dtype=torch.long), persistent=False)
        self.register_buffer("order", torch.argsort(torch.tensor(inputs + others)), persistent=False)
        self._register_statistics(cfg.state_dim, cfg.image_size)  # set from the training data

    @property
    def noise_dim(self) -> int:
        """Uniforms a row needs per `step` (which member it follows)."""
        return 1

    # -- the interface ------------------------------------------------------------------------
    def encode(self, pixels: torch.Tensor, prev_pixels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """z (..., learned_dim) from uint8 frames (..., H, W, 3), the frames before them, and the
        normalized input state (..., I)."""
        lead = pixels.shape[:-3]
        flat = [x.reshape(lead.numel(), *x.shape[len(lead) :]) for x in (pixels, prev_pixels, inputs)]  # I may be 0
        return self.encoder(*flat).float().reshape(*lead, -1)

    def observe(self, pixels, state, action, is_first, grad_rows: torch.Tensor | None = None) -> StateLatent:
        """True latents of (B, T) real observations (row 0 is taken as an episode's first, since what
        came before it is not given). ``grad_rows`` (indices into T): only these rows' z carry the frame
        encoder's gradient; the others are encoded without one (the same values, at a third of the cost)."""
        x = self._norm_state(state.float())[..., self.input_index]
        first = is_first.clone()
        first[:, 0] = True
        s = x
        if self.encoder is not None:
            before = torch.cat([pixels[:, :1], pixels[:, :-1]], 1)
            before = torch.where(first[..., None, None, None], pixels, before)
            if grad_rows is None or not torch.is_grad_enabled():
                z = self.encode(pixels, before, x)
            else:
                with torch.no_grad():
                    z = self.encode(pixels, before, x)
                rows = (slice(None), grad_rows)
                z = z.index_copy(1, grad_rows, self.encode(pixels[rows], before[rows], x[rows]))
            s = torch.cat([x, z], -1)
        prev = torch.where(first[..., None], s, torch.cat([s[:, :1], s[:, :-1]], 1))
        return self._latent(s, prev, action.float())

    def _latent(self, s: torch.Tensor, prev: torch.Tensor, action: torch.Tensor) -> StateLatent:
        """A latent whose particles all sit at ``s`` (no member chosen)."""
        particles = s.unsqueeze(-2).expand(*s.shape[:-1], self.cfg.members, s.shape[-1])
        member = torch.full(s.shape[:-1], -1, dtype=torch.long, device=s.device)
        return StateLatent(s, prev, action, particles, member)

    def initial(self, batch: int) -> StateLatent:
        cfg, dev = self.cfg, self.state_mean.device
        zero = torch.zeros(batch, cfg.latent_dim, device=dev)
        return self._latent(zero, zero, torch.zeros(batch, cfg.action_dim, device=dev))

    def start(self, rows: dict[str, torch.Tensor]) -> StateLatent:
        """The latent at the last frame of real context (``ContextBank.rows`` as tensors: ``pixels``
        uint8 (B, K+1, H, W, 3), ``state`` (B, K+1, S), ``action`` (B, K+1, A), ``is_first``). Only the
        last three frames are read: the last two latents, each encoded with the frame before it; without a
        frame encoder, no frame (``pixels`` may be left out: `start_reads`)."""
        tail = {k: rows[k][:, -3:] if k in rows else None for k in ROW_KEYS}
        return self.observe(**tail).index((slice(None), -1))

    @property
    def start_reads(self) -> tuple[str, ...]:
        """`start` reads frames only where a frame encoder infers part of the latent."""
        return ("state", "action", "is_first") + (("pixels",) if self.encoder is not None else ())

    def predict(self, latent: StateLatent, action: torch.Tensor) -> torch.Tensor:
        """Each member's next particle (K, B, D), member k from its own particle, in one batched
        matmul per layer."""
        p = latent.particles.float().movedim(-2, 0)  # (K, B, D)
        x = torch.cat([p, action.to(p.dtype).expand(p.shape[0], *action.shape)], -1)
        return p + self.dynamics(x).float()  # float32 even under autocast: the state integrates

    def step(
        self, latent: StateLatent, action: torch.Tensor, sample: bool = True, uniform: torch.Tensor | None = None
    ) -> tuple[StateLatent, torch.Tensor]:
        """One imagined step: (latent (B, .), action (B, A)) -> (next latent, uncertainty (B,)).

        Every member advances its own particle. ``sample=False``: the row follows the particles' mean.
        ``sample=True``: each row follows one particle for the rest of its rollout, chosen at its
        first step by ``uniform`` (B, noise_dim) in (0, 1) when given (per-row random streams), else
        by torch.rand. The uncertainty is the particles' spread (standard deviation, mean over dims).
        """
        preds = self.predict(latent, action)
        k, b = preds.shape[:2]
        member = latent.member
        mean = preds.mean(0)
        if sample and k > 1:
            u = torch.rand(b, device=preds.device) if uniform is None else uniform.reshape(b, -1)[:, 0]
            fresh = (u.to(preds.device) * k).long().clamp(0, k - 1)
            member = torch.where(member < 0, fresh, member)
            nxt = preds[member.clamp_min(0), torch.arange(b, device=preds.device)]
        else:
            nxt = mean
        # the particles' standard deviation, written out: torch.std over the leading dim is ~50x slower on a CPU
        unc = (preds - mean).square().mean(0).sqrt().mean(-1)
        return StateLatent(nxt, latent.state.float(), action.float(), preds.movedim(0, -2), member), unc

    def imagine(
        self, latent: StateLatent, actions: torch.Tensor, sample: bool = True
    ) -> tuple[StateLatent, torch.Tensor]:
        """Imagine along actions (B, H, A): latents (B, H, .) and uncertainty (B, H)."""
        steps, uncs = [], []
        for i in range(actions.shape[1]):
            latent, unc = self.step(latent, actions[:, i], sample)
            steps.append(latent)
            uncs.append(unc)
        return StateLatent(*(torch.stack(f, 1) for f in zip(*steps, strict=True))), torch.stack(uncs, 1)

    def state(self, latent: StateLatent) -> torch.Tensor:
        """The env's observation vector, in its own units: the input entries as the latent holds them,
        the others from the state head."""
        s = latent.state.float()
        parts = [s[..., : self.input_index.numel()]]
        if self.state_head is not None:
            parts.append(self.state_head(s).float())
        return torch.cat(parts, -1)[..., self.order] * self.state_std + self.state_mean

    def reward(self, latent: StateLatent) -> torch.Tensor:
        """Reward on arriving here; sees the action, since rewards hold control costs."""
        return symexp(self._reward_raw(latent).float())

    def cont(self, latent: StateLatent) -> torch.Tensor:
        """Probability that the episode continues (1 - P(terminated))."""
        return torch.sigmoid(self.cont_head(latent.state).squeeze(-1).float())

    def decode(self, latent: StateLatent) -> torch.Tensor:
        """Frames as float RGB in [0, 1], (..., H, W, 3)."""
        return self._decode_raw(latent).clamp(0, 1)

    def frames(self, latent: StateLatent) -> torch.Tensor:
        """Frames as uint8 RGB, (..., H, W, 3): the generic ``decode`` x 255, rounded; without a gradient
        by `Renderer.frames` (chunked, in place, the same values to within 1 of 255, 1.6x faster)."""
        if torch.is_grad_enabled():
            return super().frames(latent)
        feat = latent.state
        frames = self.renderer.frames(feat.reshape(-1, feat.shape[-1]), self.background)
        return frames.reshape(*feat.shape[:-1], *frames.shape[1:])

    # -- training -------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of a (B, T) batch (tensors as `wmgym.data.SequenceSampler` gives, on this device): the
        open-loop loss of the dynamics, and the heads and renderer on the true latents of all rows. A
        full-state model whose renderer is frozen needs no ``pixels`` (a state-only batch)."""
        cfg = self.cfg
        if "pixels" not in batch and (self.encoder is not None or self._trains("image")):
            raise ValueError("this batch has no frames, and the model's renderer or frame encoder trains on them")
        # With a frame encoder, only the rows the renderer trains on carry its gradient: the encoder's
        # backward pass over every frame of the batch is most of a step's cost on a CPU.
        rows = self._draw_image_rows(batch["pixels"]) if self.encoder is not None and cfg.encoder_grad_rows else None
        seq = self.observe(batch.get("pixels"), batch["state"], batch["action"], batch["is_first"], rows)
        first = batch["is_first"].clone()
        first[:, 0] = True
        losses = {
            "dynamics": lambda: self.rollout_loss(seq.state, seq.action, batch["is_first"]),
            "image": lambda: self._image_loss(
                *_rows(seq, batch["pixels"], rows if rows is not None else self._draw_image_rows(batch["pixels"]))
            ),
            "state": lambda: self._state_loss(seq, batch["state"]),
            # Row 0's predecessor is not in the window, and an episode's first reward is no transition's.
            "reward": lambda: _masked_mean(
                (self._reward_raw(seq).float() - symlog(batch["reward"].float())) ** 2, ~first
            ),
            "cont": lambda: F.binary_cross_entropy_with_logits(
                self.cont_head(seq.state).squeeze(-1).float(), 1.0 - batch["terminated"].float()
            ),
        }
        # A term none of whose parts trains (`TrainConfig.train_only` froze them) is not computed: the
        # renderer is ~60% of a step, so a dynamics-only run is ~2.6x faster, and vice versa.
        terms = {k: f() for k, f in losses.items() if self._trains(k)}
        if not terms:
            raise ValueError("every part of the model is frozen: nothing to train (see TrainConfig.train_only)")
        total = sum(getattr(cfg, f"{k}_weight") * v for k, v in terms.items())
        metrics = {"loss": total, **terms}
        return total, {k: float(v.detach()) for k, v in metrics.items()}

    TERM_PARTS = {
        "dynamics": ("dynamics", "encoder"),
        "image": ("renderer", "encoder"),
        "state": ("state_head", "encoder"),
        "reward": ("reward_head", "encoder"),
        "cont": ("cont_head", "encoder"),
    }
    """The submodules each loss term trains (the frame encoder feeds every term through z)."""

    def _trains(self, term: str) -> bool:
        """Whether any parameter that loss ``term`` reaches is trainable."""
        parts = (getattr(self, name) for name in self.TERM_PARTS[term])
        return any(p.requires_grad for part in parts if part is not None for p in part.parameters())

    def rollout_loss(self, state: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
        """The multi-step open-loop loss of true latents ``state`` (B, T, D) under ``action`` (B, T, A).

        From every row that has H = min(horizon, T - 1) rows after it, each member rolls its own
        prediction H steps with the true actions; the loss is the squared error against the true
        latents (z as a stop-gradient target: TD-MPC2's consistency loss), averaged over members,
        dims, windows and steps, step t weighted discount**(t-1). A window that reaches an episode's
        first row restarts there from the truth; that row is not scored.
        """
        cfg = self.cfg
        h = min(cfg.horizon, state.shape[1] - 1)
        if h < 1:
            return state.new_zeros(())
        n_in = self.input_index.numel()
        target = torch.cat([state[..., :n_in], state[..., n_in:].detach()], -1)
        true, goal, act = (_windows(x, h) for x in (state, target, action.float()))  # (N, h+1, .)
        restart = _windows(is_first, h)[:, 1:]  # (N, h)
        cur = true[:, 0].expand(cfg.members, -1, -1)
        errs = []
        for t in range(1, h + 1):
            x = torch.cat([cur, act[:, t].expand(cfg.members, -1, -1)], -1)
            pred = cur + self.dynamics(x).float()
            errs.append(((pred - goal[:, t]) ** 2).mean(-1))
            cur = torch.where(restart[:, t - 1, None], true[:, t], pred)
        err = torch.stack(errs, -1)  # (K, N, h)
        weight = (~restart).float() * cfg.discount ** torch.arange(h, device=err.device, dtype=err.dtype)
        weight = weight.expand_as(err)
        if cfg.bootstrap and self.training:
            weight = weight * torch.poisson(torch.ones(err.shape[:2], device=err.device)).unsqueeze(-1)
        return (err * weight).sum() / weight.sum().clamp_min(1e-8)

    def _draw_image_rows(self, pixels: torch.Tensor) -> torch.Tensor | None:
        """The rows of the T the renderer trains on this step: ``cfg.image_rows``, drawn at random (None: all)."""
        t, n = pixels.shape[1], self.cfg.image_rows
        return None if n is None or n >= t else torch.randperm(t, device=pixels.device)[:n]

    def _image_loss(self, seq: StateLatent, pixels: torch.Tensor) -> torch.Tensor:
        """Weighted squared error per pixel and channel; the renderer sees true latents (teacher forced)."""
        target = pixels.float() / 255.0
        moving = ((target - self.background).abs().amax(-1, keepdim=True) > 0.05).float()
        weight = 1.0 + self.cfg.moving_pixel_weight * moving
        return (weight * (self._decode_raw(seq).float() - target) ** 2).mean()

    def _state_loss(self, seq: StateLatent, state: torch.Tensor) -> torch.Tensor:
        if self.state_head is None:
            return seq.state.new_zeros(())
        target = self._norm_state(state.float())[..., self.other_index]
        return ((self.state_head(seq.state).float() - target) ** 2).mean()

    def _reward_raw(self, latent: StateLatent) -> torch.Tensor:
        """The reward head's output, in symlog units."""
        x = torch.cat([latent.prev, latent.action.to(latent.prev.dtype), latent.state], -1)
        return self.reward_head(x).squeeze(-1)

    def _decode_raw(self, latent: StateLatent) -> torch.Tensor:
        """The renderer draws the difference from the static background (the median training frame):
        a fresh model already draws the scene's static part, and learning goes to what moves."""
        feat = latent.state
        lead = feat.shape[:-1]
        residual = self.renderer(feat.reshape(-1, feat.shape[-1])).reshape(*lead, *self.cfg.image_size, 3)
        return residual + self.background


def _windows(x: torch.Tensor, h: int) -> torch.Tensor:
    """Every window of h+1 consecutive rows of (B, T, ...) as (B * (T - h), h+1, ...)."""
    w = x.unfold(1, h + 1, 1)  # (B, T-h, ..., h+1)
    return w.movedim(-1, 2).flatten(0, 1)


def _rows(seq: StateLatent, pixels: torch.Tensor, rows: torch.Tensor | None) -> tuple[StateLatent, torch.Tensor]:
    """The latents and frames of ``rows`` of the T (None: all)."""
    if rows is None:
        return seq, pixels
    return seq.index((slice(None), rows)), pixels[:, rows]


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)
