"""What the dream envs accept: each check says what was wrong and how to fix it, rather than letting
a cast or a broadcast hide a mistake."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from wmgym.model.config import WorldModelConfig
from wmgym.model.context import ContextBank
from wmgym.model.ensemble_config import EnsembleConfig

ARRAY_TYPES = ("numpy", "torch")
CONTEXT_KEYS = ("pixels", "actions", "state")


def array_type(value: str) -> str:
    """``"numpy"`` or ``"torch"``, the arrays a vector env returns."""
    if value not in ARRAY_TYPES:
        raise ValueError(
            f"array_type must be 'numpy' (numpy arrays, as gymnasium's vector envs return) or 'torch' "
            f"(tensors on the model's device, for GPU training loops); got {value!r}"
        )
    return value


def uncertainty_threshold(value: Any) -> float | None:
    """A finite float, or None (never truncate on uncertainty)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(
            "uncertainty_threshold must be a finite number (the model's ensemble disagreement, in its units; the "
            f"model card's calibration suggests one) or None to never truncate on uncertainty; got {value!r}"
        )
    return float(value)


def reset_mask(mask: Any, num_envs: int) -> np.ndarray:
    """``options["reset_mask"]``: a bool array (N,) (None: every env)."""
    if mask is None:
        return np.ones(num_envs, bool)
    m = mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)
    if m.dtype != np.bool_ or m.shape != (num_envs,):
        hint = ""
        if np.issubdtype(m.dtype, np.integer):
            hint = " (indices? build a mask: m = np.zeros(N, bool); m[indices] = True)"
        raise ValueError(
            f"reset_mask must be a bool array of shape ({num_envs},), one flag per env (True: reset that env), "
            f"got dtype {m.dtype} and shape {m.shape}{hint}"
        )
    return m


def context(value: Any, cfg: WorldModelConfig | EnsembleConfig, task: str) -> ContextBank:
    """``options["context"]`` (a `ContextBank` or a dict of arrays) as a bank the model can filter."""
    if isinstance(value, Mapping):
        missing = [k for k in CONTEXT_KEYS if value.get(k) is None]
        if missing:
            raise ValueError(
                f"context needs {', '.join(CONTEXT_KEYS)} (uint8 (K+1, H, W, 3), float32 (K, A), float32 "
                f"(K+1, S)); missing {', '.join(missing)}"
            )
        value = ContextBank.from_arrays(value["pixels"], value["actions"], value["state"])
    if not isinstance(value, ContextBank):
        raise TypeError(f"context must be a ContextBank or a dict of {', '.join(CONTEXT_KEYS)}; got {type(value)}")
    h, w = cfg.image_size
    if value.pixels.shape[2:] != (h, w, 3):
        raise ValueError(
            f"context pixels for this {task!r} model must be (K+1, {h}, {w}, 3) uint8, got "
            f"{value.pixels.shape[1:]}; render them at the model's image size"
        )
    if value.actions.shape[-1] != cfg.action_dim or value.state.shape[-1] != cfg.state_dim:
        raise ValueError(
            f"context actions must be (K, {cfg.action_dim}) and state (K+1, {cfg.state_dim}) for this "
            f"{task!r} model; got {value.actions.shape[1:]} and {value.state.shape[1:]}: was the context "
            "recorded on another task?"
        )
    return value


def actions(value: Any, num_envs: int, shape: tuple[int, ...], task: str, device: torch.device) -> torch.Tensor:
    """Actions (N, A), numpy or torch, as a float32 tensor on ``device``."""
    a = torch.as_tensor(value if torch.is_tensor(value) else np.asarray(value), dtype=torch.float32, device=device)
    if a.shape != (num_envs, *shape):
        raise ValueError(
            f"actions must have shape ({num_envs}, {', '.join(map(str, shape))}), one row per env for "
            f"{num_envs} envs of task {task!r}; got {tuple(a.shape)}"
        )
    finite = torch.isfinite(a.reshape(num_envs, -1)).all(1)
    if not finite.all():
        rows = torch.nonzero(~finite).flatten().tolist()
        raise ValueError(
            f"actions must be finite; got NaN or inf for env(s) {rows}: check the policy's output before "
            "stepping (a NaN action would silently become a NaN latent)"
        )
    return a
