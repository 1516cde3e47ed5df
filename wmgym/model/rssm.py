"""Recurrent state-space model (DreamerV3's RSSM) with an ensemble of transition heads.

Latent state at time t: a deterministic GRU state ``deter`` and a stochastic state ``stoch`` of
``stoch`` categorical variables with ``classes`` classes each (one-hot, flattened).

- transition:  deter_t = GRU(deter_{t-1}, [stoch_{t-1}, action_{t-1 -> t}])
- prior:       stoch_t ~ p_k(. | deter_t), k = 1..ensemble; imagination samples their mixture
- posterior:   stoch_t ~ q(. | deter_t, embed(obs_t))

The ensemble members are trained on the same targets from different initializations; where the
data is thin they disagree, and that disagreement is the model's uncertainty.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from wmgym.model.config import WorldModelConfig
from wmgym.model.networks import mlp


class Latent(NamedTuple):
    """A latent state: ``deter`` (..., D) and ``stoch`` (..., S*C), any leading dims."""

    deter: torch.Tensor
    stoch: torch.Tensor

    def features(self) -> torch.Tensor:
        return torch.cat([self.deter, self.stoch], -1)

    def index(self, idx) -> Latent:
        return Latent(self.deter[idx], self.stoch[idx])


class RSSM(nn.Module):
    def __init__(self, cfg: WorldModelConfig, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        s = cfg.stoch * cfg.classes
        self.img_in = nn.Sequential(nn.Linear(s + cfg.action_dim, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.SiLU())
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)
        self.priors = nn.ModuleList(mlp(cfg.deter, cfg.hidden, s, 1) for _ in range(cfg.ensemble))
        self.post = mlp(cfg.deter + embed_dim, cfg.hidden, s, 1)

    def initial(self, batch: int, device=None) -> Latent:
        cfg = self.cfg
        return Latent(
            torch.zeros(batch, cfg.deter, device=device), torch.zeros(batch, cfg.stoch * cfg.classes, device=device)
        )

    def transition(self, latent: Latent, action: torch.Tensor) -> torch.Tensor:
        """The next deterministic state."""
        x = self.img_in(torch.cat([latent.stoch, action], -1))
        return self.gru(x.float(), latent.deter.float())

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        """(..., ensemble, stoch, classes)."""
        logits = torch.stack([p(deter) for p in self.priors], -2)
        return logits.unflatten(-1, (self.cfg.stoch, self.cfg.classes))

    def post_logits(self, deter: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """(..., stoch, classes)."""
        return self.post(torch.cat([deter, embed], -1)).unflatten(-1, (self.cfg.stoch, self.cfg.classes))

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        p = logits.float().softmax(-1)
        return (1 - self.cfg.unimix) * p + self.cfg.unimix / self.cfg.classes

    def sample(self, probs: torch.Tensor, sample: bool = True, uniform: torch.Tensor | None = None) -> torch.Tensor:
        """One-hot draws (or modes) with straight-through gradients, flattened to (..., S*C).

        ``uniform`` (same shape as ``probs``, in (0, 1)) makes the draw a function of that noise
        (Gumbel-max), so a caller can give each batch row its own reproducible random stream.
        """
        if not sample:
            idx = probs.argmax(-1)
        elif uniform is not None:
            u = uniform.to(probs.dtype).clamp(1e-6, 1 - 1e-6)
            idx = (probs.log() - torch.log(-torch.log(u))).argmax(-1)
        else:
            idx = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).reshape(probs.shape[:-1])
        onehot = F.one_hot(idx, probs.shape[-1]).to(probs.dtype)
        return (onehot + probs - probs.detach()).flatten(-2)

    def observe_step(
        self, latent: Latent, action: torch.Tensor, embed: torch.Tensor, is_first: torch.Tensor, sample: bool = True
    ):
        """Filter one real observation: returns the posterior latent and its logits. (The priors are
        not needed to filter, so `observe` computes them afterwards for all steps at once.)"""
        keep = (~is_first).float().unsqueeze(-1)
        latent = Latent(latent.deter * keep, latent.stoch * keep)
        deter = self.transition(latent, action * keep)
        post = self.post_logits(deter, embed)
        return Latent(deter, self.sample(self.probs(post), sample)), post

    def imagine_step(self, latent: Latent, action: torch.Tensor, sample: bool = True, uniform=None):
        """Predict one step without observing: returns the prior latent and the ensemble's disagreement."""
        deter = self.transition(latent, action)
        probs = self.probs(self.prior_logits(deter))  # (B, K, S, C)
        mix = probs.mean(-3)
        return Latent(deter, self.sample(mix, sample, uniform)), disagreement(probs, mix)


def disagreement(member_probs: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Mean KL of each ensemble member from their mixture (a Jensen-Shannon divergence), in nats,
    summed over the latent variables. (..., K, S, C), (..., S, C) -> (...)."""
    kl = (member_probs * (member_probs.log() - mix.unsqueeze(-3).log())).sum(-1)
    return kl.sum(-1).mean(-1)


def categorical_kl(p_logits_probs: torch.Tensor, q_probs: torch.Tensor) -> torch.Tensor:
    """KL(p || q) for probabilities (..., S, C), summed over S."""
    p = p_logits_probs
    return (p * (p.log() - q_probs.log())).sum(-1).sum(-1)
