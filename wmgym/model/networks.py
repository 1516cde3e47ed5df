"""Building blocks: MLP, frame (+ state) encoder, frame decoder. Torch only."""

from __future__ import annotations

import torch
from torch import nn

from wmgym.model.config import WorldModelConfig


def mlp(inp: int, hidden: int, out: int, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inp if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.SiLU()]
    mods.append(nn.Linear(hidden if layers else inp, out))
    return nn.Sequential(*mods)


class Encoder(nn.Module):
    """uint8 frames (N, H, W, 3) [+ normalized state (N, S)] -> embedding (N, E)."""

    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        h, w = cfg.image_size
        if h % 16 or w % 16:
            raise ValueError(f"image_size must be multiples of 16, got {cfg.image_size}")
        d = cfg.cnn_depth
        chans = [3, d, 2 * d, 4 * d, 8 * d]
        convs: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            convs += [nn.Conv2d(cin, cout, 4, 2, 1), nn.SiLU()]
        self.cnn = nn.Sequential(*convs, nn.Flatten())
        self.cnn_dim = 8 * d * (h // 16) * (w // 16)
        self.state_net = mlp(cfg.state_dim, cfg.hidden, cfg.hidden, 1) if cfg.state_input and cfg.state_dim else None
        self.out_dim = self.cnn_dim + (cfg.hidden if self.state_net is not None else 0)

    def forward(self, pixels: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        x = pixels.permute(0, 3, 1, 2).float().div(255.0).sub(0.5)
        x = x.contiguous(memory_format=torch.channels_last)
        e = self.cnn(x)
        if self.state_net is not None:
            e = torch.cat([e, self.state_net(state)], -1)
        return e


class Decoder(nn.Module):
    """Features (N, F) -> frame (N, H, W, 3), in the [-0.5, 0.5] scale the loss uses."""

    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        h, w = cfg.image_size
        d = cfg.cnn_depth
        self.shape = (8 * d, h // 16, w // 16)
        self.fc = nn.Linear(cfg.latent_dim, 8 * d * (h // 16) * (w // 16))
        chans = [8 * d, 4 * d, 2 * d, d]
        mods: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            mods += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.SiLU()]
        mods.append(nn.ConvTranspose2d(d, 3, 4, 2, 1))
        self.deconv = nn.Sequential(*mods)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = self.fc(feat).reshape(-1, *self.shape).contiguous(memory_format=torch.channels_last)
        return self.deconv(x).permute(0, 2, 3, 1)
