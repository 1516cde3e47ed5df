"""What every world model keeps of its training data: the state's normalization and the background."""

from __future__ import annotations

import torch
from torch import nn


class DataStatistics(nn.Module):
    """Base of the world models: buffers set from the training data and saved with the weights.

    ``state_mean``/``state_std`` (S,) normalize the observation vector; ``background`` (H, W, 3),
    float in [0, 1], is the static scene (the median training frame) that frames are drawn over.
    """

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

    def _norm_state(self, state: torch.Tensor) -> torch.Tensor:
        return (state - self.state_mean) / self.state_std
