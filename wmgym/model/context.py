"""Real context that dream episodes start from: a few true frames, actions (and states) per entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

FILE = "context.safetensors"
ROW_KEYS = ("pixels", "state", "action", "is_first")
"""What `ContextBank.rows` gives for each entry (a model's ``start`` reads these, or some: ``start_reads``)."""


@dataclass(frozen=True)
class ContextBank:
    """N real starts: ``pixels`` uint8 (N, K+1, H, W, 3), ``actions`` float32 (N, K, A) (action j led
    from frame j to j+1), ``state`` float32 (N, K+1, S).

    Raises:
        ValueError: inconsistent shapes, pixels that are not uint8, or NaN/inf in actions or state.
    """

    pixels: np.ndarray
    actions: np.ndarray
    state: np.ndarray

    def __post_init__(self):
        if self.pixels.ndim != 5:
            raise ValueError(f"context pixels must be uint8 (N, K+1, H, W, 3), got shape {self.pixels.shape}")
        n, k1 = self.pixels.shape[:2]
        if self.actions.shape[:2] != (n, k1 - 1) or self.state.shape[:2] != (n, k1):
            raise ValueError(
                "context must hold K+1 frames, K actions and K+1 states per entry; got pixels "
                f"{self.pixels.shape}, actions {self.actions.shape}, state {self.state.shape}"
            )
        if self.pixels.dtype != np.uint8:
            raise ValueError(_PIXELS_DTYPE.format(self.pixels.dtype))
        for name in ("actions", "state"):
            bad = np.argwhere(~np.isfinite(getattr(self, name)))
            if len(bad):
                raise ValueError(
                    f"NaN or inf in context {name} (first at entry {bad[0][0]}, step {bad[0][1]}); pass the "
                    f"finite {name} recorded with those frames"
                )

    def __len__(self) -> int:
        return len(self.pixels)

    def rows(self, idx: np.ndarray, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Entries ``idx`` in the sampler's row convention (action that led to each frame; zero first):
        ``pixels``, ``state``, ``action``, ``is_first``, or only ``keys`` of them (a model's
        ``start_reads``: the frames are most of the bytes)."""
        keys = ROW_KEYS if keys is None else keys
        if unknown := set(keys) - set(ROW_KEYS):
            raise ValueError(f"context rows have no {sorted(unknown)}; ask for some of {list(ROW_KEYS)}")
        n = len(idx)
        out = {}
        if "pixels" in keys:
            out["pixels"] = self.pixels[idx]
        if "state" in keys:
            out["state"] = self.state[idx]
        if "action" in keys:
            actions = self.actions[idx]
            lead = np.zeros((n, 1, actions.shape[-1]), actions.dtype)
            out["action"] = np.concatenate([lead, actions], 1)
        if "is_first" in keys:
            first = np.zeros((n, self.pixels.shape[1]), bool)
            first[:, 0] = True
            out["is_first"] = first
        return out

    @classmethod
    def from_episodes(cls, episodes, k: int = 4, per_episode: int = 1) -> ContextBank:
        """The first ``k+1`` frames of each episode (and ``per_episode - 1`` later windows)."""
        picks = []
        if any(ep.pixels is None for ep in episodes):
            raise ValueError(
                "a context starts from real frames, and some of these episodes have none (state-only data)"
            )
        for ep in episodes:
            starts = np.linspace(0, max(len(ep) - k, 0), per_episode).astype(int) if per_episode > 1 else [0]
            picks += [(ep, s) for s in starts if s + k <= len(ep)]
        if not picks:
            raise ValueError(f"no episode has the {k + 1} frames a context needs")
        return cls(
            pixels=np.stack([ep.pixels[s : s + k + 1] for ep, s in picks]),
            actions=np.stack([ep.actions[s : s + k] for ep, s in picks]).astype(np.float32),
            state=np.stack([ep.state[s : s + k + 1] for ep, s in picks]).astype(np.float32),
        )

    @classmethod
    def from_arrays(cls, pixels, actions, state) -> ContextBank:
        """One context from user arrays: pixels uint8 (K+1, H, W, 3), actions (K, A), state (K+1, S).

        Raises:
            ValueError: pixels that are not integers in [0, 255] (floats are refused, not cast: frames
                scaled to [0, 1] would silently become black), or NaN/inf in actions or state.
        """
        return cls(
            _frames(pixels)[None],
            np.asarray(_numpy(actions), np.float32)[None],
            np.asarray(_numpy(state), np.float32)[None],
        )

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        save_file({"pixels": self.pixels, "actions": self.actions, "state": self.state}, str(path))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ContextBank:
        t = load_file(str(Path(folder) / FILE))
        return cls(t["pixels"], t["actions"], t["state"])


_PIXELS_DTYPE = (
    "context pixels must be uint8 frames in [0, 255], as the truth env renders them; got dtype {}. "
    "Frames as floats in [0, 1]? pass (pixels * 255).round().astype(np.uint8)"
)


def _numpy(x) -> np.ndarray:
    """An array from numpy data or a torch tensor on any device (without importing torch)."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _frames(pixels) -> np.ndarray:
    """uint8 frames; integer frames in [0, 255] are cast (losslessly), anything else refused."""
    p = _numpy(pixels)
    if p.dtype == np.uint8:
        return p
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(_PIXELS_DTYPE.format(p.dtype))
    if p.size and (p.min() < 0 or p.max() > 255):
        raise ValueError(
            f"context pixels must be uint8 frames in [0, 255]; got {p.dtype} values in [{p.min()}, {p.max()}], "
            "which a cast to uint8 would wrap around"
        )
    return p.astype(np.uint8)
