"""Writing frames to mp4 (imageio + imageio-ffmpeg, whose wheel bundles ffmpeg: works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np


def side_by_side(*videos: np.ndarray, gap: int = 2) -> np.ndarray:
    """Stack (T, H, W, 3) uint8 videos left to right with a white gap."""
    t, h = videos[0].shape[:2]
    sep = np.full((t, h, gap, 3), 255, np.uint8)
    parts = [videos[0]]
    for v in videos[1:]:
        parts += [sep, v]
    return np.concatenate(parts, axis=2)


def error_frames(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """Per-pixel absolute difference of two uint8 videos, brightened by ``gain`` to be seen."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1, keepdims=True)
    return np.clip(diff * gain, 0, 255).astype(np.uint8).repeat(3, axis=-1)


def write_mp4(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: int = 20, scale: int = 4) -> Path:
    """Write (T, H, W, 3) uint8 frames to ``path``, upscaled ``scale`` times with crisp pixels."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_mp4 needs uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pad_h, pad_w = (-frames.shape[1]) % 16, (-frames.shape[2]) % 16  # codecs want multiples of 16
    frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, list(frames), fps=fps, codec="libx264", quality=8, macro_block_size=1)
    return path
