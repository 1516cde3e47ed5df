"""`WorldModel`: an action-conditioned video world model with reward, continue and state heads.

Its whole interface, one short method each:

- `encode`   frames (+ state) -> embeddings
- `observe`  filter a real sequence into latent states (posterior)
- `step`     latent, action -> next latent and uncertainty (prior; no observation)
- `imagine`  many `step`s along an action sequence
- `decode`   latent -> frame (float RGB in [0, 1]); `frames`: the same as uint8, the pixels' own scale
- `reward`, `cont` (probability the episode continues), `terminated`, `state` (the MuJoCo observation vector)
- `start`    real context (`ContextBank.rows`) -> the latent to imagine from
- `open_loop` context, then actions only: every head's prediction along the way
- `loss`     training loss of a batch from `wmgym.data.SequenceSampler`

Torch only: it knows nothing of gymnasium or MuJoCo. Batches follow the sampler's convention: row
t holds observation t, the action that led to it, the reward and termination on arriving.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wmgym.model.base import WorldModelBase
from wmgym.model.config import WorldModelConfig
from wmgym.model.networks import Decoder, Encoder, mlp
from wmgym.model.rssm import RSSM, Latent, categorical_kl


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


class WorldModel(WorldModelBase):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        if cfg.action_dim <= 0 or cfg.state_dim <= 0:
            raise ValueError("WorldModelConfig needs action_dim and state_dim (set them from the dataset)")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.rssm = RSSM(cfg, self.encoder.out_dim)
        self.decoder = Decoder(cfg)
        self.reward_head = mlp(cfg.latent_dim, cfg.hidden, 1)
        self.cont_head = mlp(cfg.latent_dim, cfg.hidden, 1)
        self.state_head = mlp(cfg.latent_dim, cfg.hidden, cfg.state_dim)
        self._register_statistics(cfg.state_dim, cfg.image_size)  # set from the training data

    # -- the interface ------------------------------------------------------------------------
    def encode(self, pixels: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) [+ state (..., S)] -> embeddings (..., E)."""
        lead = pixels.shape[:-3]
        s = None if state is None else self._norm_state(state).flatten(0, len(lead) - 1)
        return self.encoder(pixels.flatten(0, len(lead) - 1), s).unflatten(0, lead)

    @property
    def noise_dim(self) -> int:
        """Uniforms a row needs per `step`: one per class of each categorical variable."""
        return self.cfg.stoch * self.cfg.classes

    def initial(self, batch: int) -> Latent:
        return self.rssm.initial(batch, self.state_mean.device)

    def observe(self, pixels, state, action, is_first, latent: Latent | None = None, sample: bool = True):
        """Filter (B, T) real observations. Returns posterior latents (B, T, .), the last latent, and
        the prior and posterior logits (for the loss). ``sample=False`` takes the posterior's mode."""
        embed = self.encode(pixels, state if self.cfg.state_input else None)
        b, t = embed.shape[:2]
        latent = latent if latent is not None else self.initial(b)
        deters, stochs, posts = [], [], []
        for i in range(t):
            latent, post = self.rssm.observe_step(latent, action[:, i], embed[:, i], is_first[:, i], sample)
            deters.append(latent.deter)
            stochs.append(latent.stoch)
            posts.append(post)
        seq = Latent(torch.stack(deters, 1), torch.stack(stochs, 1))
        return seq, latent, self.rssm.prior_logits(seq.deter), torch.stack(posts, 1)

    def step(
        self, latent: Latent, action: torch.Tensor, sample: bool = True, uniform=None
    ) -> tuple[Latent, torch.Tensor]:
        """One imagined step: (latent (B, .), action (B, A)) -> (next latent, uncertainty (B,)).
        ``uniform`` (B, noise_dim) in (0, 1): the noise of the draw, for per-row random streams."""
        if uniform is not None:
            uniform = uniform.reshape(len(action), self.cfg.stoch, self.cfg.classes)
        return self.rssm.imagine_step(latent, action, sample, uniform)

    def imagine(self, latent: Latent, actions: torch.Tensor, sample: bool = True) -> tuple[Latent, torch.Tensor]:
        """Imagine along actions (B, H, A): latents (B, H, .) and uncertainty (B, H)."""
        deters, stochs, uncs = [], [], []
        for i in range(actions.shape[1]):
            latent, unc = self.step(latent, actions[:, i], sample)
            deters.append(latent.deter)
            stochs.append(latent.stoch)
            uncs.append(unc)
        return Latent(torch.stack(deters, 1), torch.stack(stochs, 1)), torch.stack(uncs, 1)

    def decode(self, latent: Latent) -> torch.Tensor:
        """Frames as float RGB in [0, 1], (..., H, W, 3)."""
        return (self._decode_raw(latent) + 0.5).clamp(0, 1)

    def reward(self, latent: Latent) -> torch.Tensor:
        return symexp(self.reward_head(latent.features()).squeeze(-1))

    def cont(self, latent: Latent) -> torch.Tensor:
        """Probability that the episode continues (the ``continue`` head; 1 - P(terminated))."""
        return torch.sigmoid(self.cont_head(latent.features()).squeeze(-1))

    def state(self, latent: Latent) -> torch.Tensor:
        """The MuJoCo env's observation vector, in its own units."""
        return self.state_head(latent.features()) * self.state_std + self.state_mean

    def start(self, rows: dict[str, torch.Tensor]) -> Latent:
        """Filter real context (``ContextBank.rows`` as tensors: pixels, state, action, is_first, (B, K+1))
        with the posterior's mode; the last latent, to imagine from."""
        _, last, _, _ = self.observe(rows["pixels"], rows["state"], rows["action"], rows["is_first"], sample=False)
        return last

    # -- training -------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of a (B, T) batch (tensors as `wmgym.data.SequenceSampler` gives, on this device)."""
        cfg = self.cfg
        seq, _, prior_logits, post_logits = self.observe(
            batch["pixels"], batch["state"], batch["action"], batch["is_first"]
        )
        feat = seq.features()
        target = batch["pixels"].float() / 255.0
        recon = self._decode_raw(seq).float() + 0.5
        moving = ((target - self.background).abs().amax(-1, keepdim=True) > 0.05).float()
        weight = 1.0 + cfg.moving_pixel_weight * moving
        image = (weight * (recon - target) ** 2).sum((-3, -2, -1)).mean()
        state = ((self.state_head(feat).float() - self._norm_state(batch["state"])) ** 2).sum(-1).mean()
        reward = ((self.reward_head(feat).squeeze(-1).float() - symlog(batch["reward"])) ** 2).mean()
        cont_target = 1.0 - batch["terminated"].float()
        cont = F.binary_cross_entropy_with_logits(self.cont_head(feat).squeeze(-1).float(), cont_target)
        post = self.rssm.probs(post_logits)  # (B, T, S, C)
        priors = self.rssm.probs(prior_logits)  # (B, T, K, S, C)
        dyn = categorical_kl(post.detach().unsqueeze(2), priors).clamp_min(cfg.free_nats).mean()
        rep = categorical_kl(post, priors.mean(2).detach()).clamp_min(cfg.free_nats).mean()
        total = (
            cfg.image_weight * image
            + cfg.state_weight * state
            + cfg.reward_weight * reward
            + cfg.cont_weight * cont
            + cfg.kl_dyn * dyn
            + cfg.kl_rep * rep
        )
        metrics = {
            "loss": total,
            "image": image,
            "state": state,
            "reward": reward,
            "cont": cont,
            "kl_dyn": dyn,
            "kl_rep": rep,
        }
        return total, {k: float(v.detach()) for k, v in metrics.items()}

    def _decode_raw(self, latent: Latent) -> torch.Tensor:
        """The decoder predicts the difference from the static background (the median training frame):
        a fresh model already draws the scene's static part, and learning goes to what moves."""
        feat = latent.features()
        lead = feat.shape[:-1]
        residual = self.decoder(feat.reshape(-1, feat.shape[-1])).reshape(*lead, *self.cfg.image_size, 3)
        return residual + (self.background - 0.5)
