"""Writing frames to mp4 (imageio + imageio-ffmpeg, whose wheel bundles ffmpeg: works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FPS = 10
"""Frame rate of every mp4 wmgym writes (demo, calibration, ``wmgym video``): slow enough to follow a
prediction drift frame by frame (a 50-step reacher episode lasts 5 s; MuJoCo runs it in 1 s)."""


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


def write_mp4(
    frames: np.ndarray | Sequence[np.ndarray],
    path: str | Path,
    fps: int = FPS,
    scale: int = 4,
    titles: Sequence[str] = (),
    captions: Sequence[str] = (),
) -> Path:
    """Write (T, H, W, 3) uint8 frames to ``path``, upscaled ``scale`` times with crisp pixels.

    Args:
        titles: a name per panel of a `side_by_side` video, in a band above the frames.
        captions: a line per frame (a step counter), in a band below the frames.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_mp4 needs uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if captions and len(captions) != len(frames):
        raise ValueError(f"write_mp4 got {len(captions)} captions for {len(frames)} frames")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    frames = label(frames, titles, captions)
    pad_h, pad_w = (-frames.shape[1]) % 16, (-frames.shape[2]) % 16  # codecs want multiples of 16
    frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, list(frames), fps=fps, codec="libx264", quality=8, macro_block_size=1)
    return path


def label(frames: np.ndarray, titles: Sequence[str] = (), captions: Sequence[str] = ()) -> np.ndarray:
    """``frames`` with ``titles`` centred over equal panels in a band above, ``captions`` (one per
    frame) in a band below; white on black."""
    t, _, width = frames.shape[:3]
    font = ImageFont.load_default(size=14)
    height = 22
    parts = []
    if titles:
        panel = width / len(titles)
        band = _text_band(width, height, font, [(title, panel * (i + 0.5), True) for i, title in enumerate(titles)])
        parts.append(np.broadcast_to(band, (t, *band.shape)))
    parts.append(frames)
    if captions:
        parts.append(np.stack([_text_band(width, height, font, [(c, 6, False)]) for c in captions]))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else frames


def _text_band(width: int, height: int, font, texts: list[tuple[str, float, bool]]) -> np.ndarray:
    """A black (height, width, 3) band with each ``(text, x, centred)`` written on it in white."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for text, x, centred in texts:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x0 = x - (right - left) / 2 if centred else x
        draw.text((x0 - left, (height - (bottom - top)) / 2 - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)
