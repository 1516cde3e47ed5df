"""What every world model shares: the statistics of its training data, and the parts of its interface
that are the same whatever the kind (uint8 frames, termination, the open-loop prediction, DDP's entry).

A kind defines `start`, `step`, `imagine`, `state`, `reward`, `cont`, `decode` and `loss`; everything
here is written once on top of them.
"""

from __future__ import annotations

import torch
from torch import nn

from wmgym.model.context import ROW_KEYS


class WorldModelBase(nn.Module):
    """Base of the world models (`WorldModel`, `EnsembleWorldModel`).

    Buffers set from the training data and saved with the weights: ``state_mean``/``state_std`` (S,)
    normalize the observation vector; ``background`` (H, W, 3), float in [0, 1], is the static scene
    (the median training frame) that frames are drawn over.
    """

    start_reads: tuple[str, ...] = ROW_KEYS
    """The `ContextBank.rows` keys `start` reads: a caller that starts many rows at once gathers no more
    (a full-state ensemble reads no frames: gathering 1,024 contexts' frames was ~10% of a state-mode dream)."""

    def _register_statistics(self, state_dim: int, image_size: tuple[int, int]) -> None:
        h, w = image_size
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("background", torch.full((h, w, 3), 0.5))

    def set_data_statistics(self, state_mean, state_std, background) -> None:
        """Normalization of the state vector, and the static background (median frame, uint8 (H, W, 3))
        that frames are decoded as a difference from."""
        self.state_mean.copy_(torch.as_tensor(state_mean))
        self.state_std.copy_(torch.as_tensor(state_std).clamp_min(1e-3))
        self.background.copy_(torch.as_tensor(background).float() / 255.0)

    def background_frame(self) -> torch.Tensor:
        """The static background as a uint8 frame (H, W, 3): the baseline a prediction must beat."""
        return (self.background.float() * 255).round().to(torch.uint8)

    def frames(self, latent) -> torch.Tensor:
        """Frames as uint8 RGB, (..., H, W, 3): what an env returns and a dataset stores."""
        return (self.decode(latent).float() * 255).round().to(torch.uint8)

    def terminated(self, latent) -> torch.Tensor:
        """Whether the episode ends here: the continue head below one half (bool)."""
        return self.cont(latent) < 0.5

    @torch.no_grad()
    def open_loop(
        self, rows: dict[str, torch.Tensor], actions: torch.Tensor, pixels: bool = True, sample: bool = False
    ) -> dict[str, torch.Tensor]:
        """Context ``rows`` (see `start`), then actions (B, H, A) only. Returns (B, H, ...) tensors:
        ``state``, ``reward``, ``cont``, ``terminated``, ``uncertainty`` and, if asked, uint8 ``pixels``."""
        latents, unc = self.imagine(self.start(rows), actions, sample=sample)
        out = {
            "state": self.state(latents).float(),
            "reward": self.reward(latents).float(),
            "cont": self.cont(latents).float(),
            "terminated": self.terminated(latents),
            "uncertainty": unc.float(),
        }
        if pixels:
            out["pixels"] = self.frames(latents)
        return out

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Same as `loss`; DDP synchronizes gradients only through ``forward``."""
        return self.loss(batch)

    def _norm_state(self, state: torch.Tensor) -> torch.Tensor:
        return (state - self.state_mean) / self.state_std
