"""A Dreamer-style actor-critic trained in imagination on the world model's batched latent step.

The agent a world model makes possible: it never decodes a frame and never calls the env API. Each
update imagines ``horizon`` steps for ``batch`` latent states at once with ``model.step`` (actions
from the actor, rewards from the reward head, continuation from the continue head), computes
lambda-returns bootstrapped by a critic on the latent features, and trains

- the actor by backpropagating the returns through the model's dynamics (DreamerV1/V2's dynamics
  backprop for continuous actions; the RSSM's categorical draws pass straight-through gradients),
  with returns scaled by their 5-95 percentile range (DreamerV3) and an entropy bonus;
- the critic on the latent features (detached) towards those returns, bootstrapped by a slow copy.

Imagination runs on like a vector env: the latents an update ends on start the next one, and a row
restarts from the model's real context when its episode ends (episode length, or the continue head),
so the actor sees states from whole episodes. Every imagined step counts against the budget.

The actor reads the task's state vector as the model's state head reads it out of the latent,
normalized by the model's own statistics, so the trained policy runs unchanged on MuJoCo's
observation (no pixels, no filtering) like every other agent of the benchmark.

Run it alone: ``python agents/latent_ac_dream.py --task reacher --budget 60000``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wmgym.model.networks import mlp


@dataclass(frozen=True)
class LatentACConfig:
    """Settings of the latent actor-critic."""

    batch: int = 32
    """Imagined trajectories per update."""
    horizon: int = 15
    """Imagined steps per update (Dreamer's 15)."""
    hidden: int = 128
    """Units of the actor's and critic's two hidden layers."""
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    gamma: float = 0.97
    lam: float = 0.95
    """Lambda of the lambda-returns."""
    entropy: float = 3e-3
    """Weight of the policy's entropy in the actor's loss (on scaled returns)."""
    critic_ema: float = 0.02
    """Step of the slow critic towards the critic, per update."""
    critic_steps: int = 2
    """Critic updates per imagined batch."""
    grad_clip: float = 100.0


class Actor(nn.Module):
    """Tanh-Gaussian policy over the action box, on the normalized state vector."""

    def __init__(self, state_mean, state_std, low, high, hidden: int):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(state_mean, dtype=torch.float32).clone())
        self.register_buffer("std", torch.as_tensor(state_std, dtype=torch.float32).clone())
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.register_buffer("center", (high + low) / 2)
        self.register_buffer("radius", (high - low) / 2)
        self.net = mlp(len(self.mean), hidden, 2 * len(low))

    def forward(self, state: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(action in the box, entropy of the pre-squash Gaussian (B,))."""
        mu, log_std = self.net((state - self.mean) / self.std).chunk(2, -1)
        log_std = log_std.clamp(-5, 1)
        x = mu + log_std.exp() * torch.randn_like(mu) if sample else mu
        return self.center + self.radius * torch.tanh(x), log_std.sum(-1)


class LatentPolicy:
    """The trained actor as ``obs -> action`` on MuJoCo's state vector (its mean action)."""

    def __init__(self, actor: Actor):
        self.actor = actor

    @torch.no_grad()
    def __call__(self, obs) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, np.float32))
        return self.actor(x[None], sample=False)[0][0].numpy()


def train(make_env, budget: int, seed: int, *, checkpoint=None, logdir=None, config: LatentACConfig | None = None):
    """Train the actor-critic on ``make_env``'s world model (a `wmgym.bench.dream.Dream`) for at most
    ``budget`` imagined steps; returns the policy (see `wmgym.bench.agents` for the signature)."""
    cfg = config or LatentACConfig()
    if cfg.batch * cfg.horizon > budget:
        raise ValueError(
            f"latent_ac needs a budget of at least {cfg.batch * cfg.horizon} (batch x horizon), got {budget}"
        )
    torch.manual_seed(seed)
    run = _Imagination(*make_env.world_model(), cfg, np.random.default_rng(seed))
    writer = _writer(logdir)
    policy = LatentPolicy(run.actor)
    while make_env.steps + cfg.batch * cfg.horizon <= budget:
        make_env.spend(cfg.batch * cfg.horizon)
        stats = run.update()
        if writer is not None:
            for k, v in stats.items():
                writer.add_scalar(f"latent_ac/{k}", v, make_env.steps)
        if checkpoint is not None:
            checkpoint(policy)
    if writer is not None:
        writer.close()
    return policy


class _Imagination:
    """The model, the actor and critics, and the batch of latents imagination continues from."""

    def __init__(self, model, task, action_space, context, cfg: LatentACConfig, rng: np.random.Generator):
        self.model = model.eval().requires_grad_(False)
        self.task, self.context, self.cfg, self.rng = task, context, cfg, rng
        self.actor = Actor(model.state_mean, model.state_std, action_space.low, action_space.high, cfg.hidden)
        feat = self._restart(None).features().shape[-1]
        self.critic = mlp(feat, cfg.hidden, 1)
        self.slow = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), cfg.critic_lr)
        self.scale = None

    def update(self) -> dict[str, float]:
        latents, rewards, conts, entropy = self._imagine(self.latent)
        values = self.slow(torch.stack([f.features() for f in latents])).squeeze(-1)  # (H+1, B), grads to states
        returns = _lambda_returns(rewards, conts, values, self.cfg.gamma, self.cfg.lam)  # (H, B)
        weight = torch.cumprod(torch.cat([torch.ones_like(conts[:1]), conts[:-1]]) * self.cfg.gamma, 0).detach()
        actor_loss = self._actor_step(returns, entropy, weight)
        critic_loss = self._critic_step(latents, returns.detach(), weight)
        self._advance(latents[-1], conts)
        return {
            "imagined_return": rewards.detach().sum(0).mean().item(),
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
        }

    def _imagine(self, latent):
        latents, rewards, conts, entropies = [latent], [], [], []
        with torch.enable_grad():
            for _ in range(self.cfg.horizon):
                action, entropy = self.actor(self.model.state(latent).float())
                latent, _ = self.model.step(latent, action)
                latents.append(latent)
                rewards.append(self.model.reward(latent).float())
                cont = self.model.cont(latent).float() if self.task.terminates else torch.ones_like(rewards[-1])
                conts.append(cont.detach())
                entropies.append(entropy)
        return latents, torch.stack(rewards), torch.stack(conts), torch.stack(entropies)

    def _actor_step(self, returns: torch.Tensor, entropy: torch.Tensor, weight: torch.Tensor) -> float:
        lo, hi = torch.quantile(returns.detach().flatten(), torch.tensor([0.05, 0.95]))
        span = float(hi - lo)
        self.scale = span if self.scale is None else 0.99 * self.scale + 0.01 * span
        loss = -(weight * (returns / max(1.0, self.scale) + self.cfg.entropy * entropy)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.cfg.grad_clip)
        self.actor_opt.step()
        return loss.item()

    def _critic_step(self, latents, returns: torch.Tensor, weight: torch.Tensor) -> float:
        feats = torch.stack([f.features() for f in latents[:-1]]).detach()
        for _ in range(self.cfg.critic_steps):
            loss = (weight * (self.critic(feats).squeeze(-1) - returns) ** 2).mean()
            self.critic_opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.critic.parameters(), self.cfg.grad_clip)
            self.critic_opt.step()
        with torch.no_grad():
            for slow, fast in zip(self.slow.parameters(), self.critic.parameters(), strict=True):
                slow.lerp_(fast, self.cfg.critic_ema)
        return loss.item()

    def _advance(self, last, conts: torch.Tensor) -> None:
        """Continue from the last imagined latents; restart the rows whose episode ended."""
        self.latent = type(last)(*(t.detach() for t in last))
        self.elapsed += self.cfg.horizon
        ended = (self.elapsed >= self.task.episode_length) | (conts < 0.5).any(0).numpy()
        if ended.any():
            self._restart(np.flatnonzero(ended))

    @torch.no_grad()
    def _restart(self, rows: np.ndarray | None):
        """Start ``rows`` (None: all) from real context entries drawn at random; returns the latents."""
        n = self.cfg.batch if rows is None else len(rows)
        idx = self.rng.integers(0, len(self.context), n)
        fresh = self.model.start(
            {k: torch.as_tensor(v) for k, v in self.context.rows(idx, self.model.start_reads).items()}
        )
        if rows is None:
            self.latent, self.elapsed = fresh, np.zeros(n, int)
        else:
            t = torch.as_tensor(rows)
            self.latent = type(fresh)(*(old.index_copy(0, t, new) for old, new in zip(self.latent, fresh, strict=True)))
            self.elapsed[rows] = 0
        return self.latent


def _lambda_returns(rewards, conts, values, gamma: float, lam: float) -> torch.Tensor:
    """ret_t = r_{t+1} + gamma c_{t+1} ((1 - lam) v_{t+1} + lam ret_{t+1}), ret_H = v_H; (H, B)."""
    out, ret = [], values[-1]
    for t in reversed(range(len(rewards))):
        ret = rewards[t] + gamma * conts[t] * ((1 - lam) * values[t + 1] + lam * ret)
        out.append(ret)
    return torch.stack(out[::-1])


def _writer(logdir):
    if logdir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(logdir)
