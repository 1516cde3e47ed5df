"""Networks of the ensemble world model: batched member MLPs, a two-frame encoder, a renderer. Torch only."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EnsembleLinear(nn.Module):
    """K independent linear layers applied in one batched matmul: (K, N, inp) -> (K, N, out)."""

    def __init__(self, members: int, inp: int, out: int, scale: float = 1.0):
        super().__init__()
        bound = scale / math.sqrt(inp)  # nn.Linear's default init, drawn separately for every member
        self.weight = nn.Parameter(torch.empty(members, inp, out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """K MLPs (Linear, LayerNorm with per-member gain and shift, SiLU) x ``layers``, then Linear.

    Cost per row and member: 2 * (inp * hidden + (layers - 1) * hidden**2 + hidden * out) FLOPs.
    """

    def __init__(self, members: int, inp: int, hidden: int, out: int, layers: int):
        super().__init__()
        sizes = [inp] + [hidden] * layers
        self.hidden = nn.ModuleList(EnsembleLinear(members, i, o) for i, o in zip(sizes[:-1], sizes[1:], strict=True))
        self.gain = nn.Parameter(torch.ones(members, layers, 1, hidden))  # member first, like every weight
        self.shift = nn.Parameter(torch.zeros(members, layers, 1, hidden))
        # A small last layer: every member starts near "no change", each with its own small tilt.
        self.out = EnsembleLinear(members, sizes[-1], out, scale=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Memory-bound on a CPU (the matmuls are a third of the time): one fused affine pass, and SiLU
        # in place where no gradient needs its input (2x faster than LayerNorm, mul, add, SiLU).
        inplace = not torch.is_grad_enabled()
        for i, layer in enumerate(self.hidden):
            h = F.layer_norm(layer(x), (layer.weight.shape[-1],))
            x = F.silu(torch.addcmul(self.shift[:, i], h, self.gain[:, i]), inplace=inplace)
        return self.out(x)


FRAME_CHUNK = 128
"""Rows per chunk in `Renderer.frames`: the shipped reacher renderer at batch 1,024 (ad hoc, 2 threads, a quiet
Intel Xeon with AMX, 2026-12-03) made 4.1k / 5.2k / 4.4k / 3.1k / 2.9k frames/s in fp32 at chunks of 64 / 128 /
256 / 512 / 1,024 rows, 4.7k / 6.6k / 5.9k / 5.4k / 4.1k in bf16: a chunk's activations then stay in cache."""


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class FrameEncoder(nn.Module):
    """A frame and the one before it (uint8 (N, H, W, 3) each) + normalized input state (N, I) -> z (N, Z).

    Two frames, because one shows where an object is but not where it is going. z is squashed into
    (-1, 1) so that its scale stays that of the normalized state it sits beside.
    """

    def __init__(self, image_size: tuple[int, int], depth: int, state_dim: int, hidden: int, out: int):
        super().__init__()
        h, w = image_size
        chans = [6, depth, 2 * depth, 4 * depth, 8 * depth]
        convs: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            convs += [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(_groups(cout), cout), nn.SiLU()]
        self.cnn = nn.Sequential(*convs, nn.Flatten())
        cnn_dim = 8 * depth * (h // 16) * (w // 16)
        self.head = nn.Sequential(nn.Linear(cnn_dim + state_dim, hidden), nn.SiLU(), nn.Linear(hidden, out), nn.Tanh())

    def forward(self, pixels: torch.Tensor, prev_pixels: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        x = torch.cat([pixels, prev_pixels], -1).permute(0, 3, 1, 2).float().div(255.0).sub(0.5)
        e = self.cnn(x.contiguous(memory_format=torch.channels_last))
        return self.head(torch.cat([e, state.to(e.dtype)], -1))


class Renderer(nn.Module):
    """Latent (N, D) -> the frame's difference from the static background (N, H, W, 3).

    fc to a (8d, H/16, W/16) grid, then four stride-2 transposed convs (GroupNorm, SiLU) to RGB.
    Cost per 64x64 frame: each up-conv 2 * 16 * (input pixels) * Cin * Cout FLOPs, 3 * 16,384 d^2 + 98,304 d
    in all, plus the fc's 2 * hidden * 128 d: ~15 MFLOP at d=16 (``small``), ~120 at d=48 (``base``).
    """

    def __init__(self, image_size: tuple[int, int], depth: int, latent_dim: int, hidden: int):
        super().__init__()
        h, w = image_size
        self.grid = (8 * depth, h // 16, w // 16)
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, math.prod(self.grid)))
        chans = [8 * depth, 4 * depth, 2 * depth, depth]
        mods: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            mods += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.GroupNorm(_groups(cout), cout), nn.SiLU()]
        mods.append(nn.ConvTranspose2d(depth, 3, 4, 2, 1))
        self.deconv = nn.Sequential(*mods)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.fc(feat)).reshape(-1, *self.grid).contiguous(memory_format=torch.channels_last)
        return self.deconv(x).permute(0, 2, 3, 1)

    @torch.no_grad()
    def frames(self, feat: torch.Tensor, background: torch.Tensor, chunk: int = FRAME_CHUNK) -> torch.Tensor:
        """uint8 frames (N, H, W, 3) for inference: ``forward(feat) + background`` clamped to [0, 1], x 255,
        rounded (the same values up to float rounding: at most 1 of 255 apart), 1.6x as fast on a CPU
        (the renderer rows of benchmarks/results/dream_throughput.md time both).

        Rows go through in chunks of `FRAME_CHUNK` (a 1,024-frame batch's activations leave the cache), the
        SiLUs run in place, and the last transposed conv runs as the 3x3 conv and pixel shuffle it equals
        (`_subpixel`; oneDNN's transposed conv to 3 channels is slow), the shuffle folded into the
        background's add.
        """
        n = feat.shape[0]
        h, w = background.shape[:2]
        last = self.deconv[-1]
        kernel, bias = _subpixel(last.weight, last.bias)
        out = torch.empty(n, h, w, 3, dtype=torch.uint8, device=feat.device)
        # In 0-255 units plus a half: the uint8 cast truncates, so clamping to [0, 255] then casting rounds.
        bg = (background.float() * 255 + 0.5).view(h // 2, 2, w // 2, 2, 3).permute(0, 2, 1, 3, 4)  # (i, j, a, b, rgb)
        for start in range(0, n, chunk):
            rows = feat[start : start + chunk]
            x = F.silu(self.fc(rows)).reshape(-1, *self.grid).contiguous(memory_format=torch.channels_last)
            for mod in self.deconv[:-1]:
                x = F.silu(x, inplace=True) if isinstance(mod, nn.SiLU) else mod(x)
            y = F.conv2d(x, kernel.to(x.dtype), bias.to(x.dtype), padding=1)  # (m, 4 * 3, h/2, w/2)
            m = y.shape[0]
            y = y.permute(0, 2, 3, 1).reshape(m, h // 2, w // 2, 2, 2, 3)  # (m, i, j, a, b, rgb)
            frame = torch.empty(m, h, w, 3, device=feat.device)
            torch.add(bg, y, alpha=255, out=frame.view(m, h // 2, 2, w // 2, 2, 3).permute(0, 1, 3, 2, 4, 5))
            out[start : start + m] = frame.clamp_(0, 255)
        return out


def _subpixel(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A stride-2, kernel-4, padding-1 transposed conv's weight (Cin, Cout, 4, 4) as a 3x3 conv (4 Cout, Cin,
    3, 3) whose output channel (a, b, o) is output pixel (2i + a, 2j + b) of channel o (a pixel shuffle).

    Output row 2i + a takes input rows i + d through kernel row k: (a, d) -> k is (0, -1) -> 3, (0, 0) -> 1,
    (1, 0) -> 2, (1, 1) -> 0 (the 3x3 kernel's other taps are zero); the same for columns.
    """
    cin, cout = weight.shape[:2]
    taps = {(0, -1): 3, (0, 0): 1, (1, 0): 2, (1, 1): 0}
    kernel = weight.new_zeros(2, 2, cout, cin, 3, 3)
    for (a, di), ki in taps.items():
        for (b, dj), kj in taps.items():
            kernel[a, b, :, :, di + 1, dj + 1] = weight[:, :, ki, kj].T
    return kernel.reshape(4 * cout, cin, 3, 3), bias.repeat(4)
