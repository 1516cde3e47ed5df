"""A team's own recorded episodes as a wmgym dataset: frames, actions, rewards, optional
proprioception; no MuJoCo env and no physics state behind them.

That is all a world model needs to train and to dream. `wmgym.data.lerobot` and
`wmgym.data.from_minari` read two common formats and hand their episodes to `write_dataset`, which
writes the same dataset folder as ``wmgym collect`` (``wmgym.json`` + a Minari dataset), so
``wmgym train``, ``wmgym video`` and `SequenceSampler` read it unchanged.

The task is an `own_task`: a `TaskSpec` with ``gym_id=None``. It is stored in the dataset and in
every checkpoint trained on it, so training and dreaming need no registration; what needs MuJoCo
(collection, calibration) refuses it with `wmgym.errors.NoTruthError`. See docs/own_data.md.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from gymnasium import spaces
from PIL import Image
from tqdm import tqdm

from wmgym.data import store
from wmgym.data.store import EpisodeArrays
from wmgym.tasks.spec import CameraSpec, TaskSpec

REQUIREMENTS = ("wmgym",)
"""What a recorded dataset needs to be read: wmgym's reader, no MuJoCo."""


def own_task(
    name: str,
    state_dim: int,
    episode_length: int,
    image_size: tuple[int, int] = (64, 64),
    fps: float | None = None,
    terminates: bool = False,
    notes: str = "",
) -> TaskSpec:
    """The `TaskSpec` of recorded data: no MuJoCo env (``gym_id=None``); the whole state vector, if any,
    is the robot's own sensors (``proprio``), so ``proprio_only`` training infers the rest from frames.

    Args:
        name: the task's name (letters, digits, ``_`` and ``-``), e.g. ``so100_pick``.
        state_dim: entries of the proprioception vector (joint positions, velocities); 0 for none.
        episode_length: steps after which a dream episode is truncated (e.g. the longest recorded one).
        image_size: (height, width) frames are resized to; multiples of 16 for the world models.
        fps: frame rate of the recording (for videos).
        terminates: whether episodes end because the task ended (a fall, a success), not the recording.
        notes: where the data came from.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"task name must be letters, digits, '_' or '-' (it names the dataset id), got {name!r}")
    if any(n % 16 or n < 16 for n in image_size):
        raise ValueError(f"image_size must be multiples of 16 (the world models' strided convs), got {image_size}")
    return TaskSpec(
        name=name,
        gym_id=None,
        camera=CameraSpec(),  # the recording's camera; nothing is rendered
        image_size=tuple(image_size),
        episode_length=episode_length,
        obs_keys=("pixels", "state") if state_dim else ("pixels",),
        terminates=terminates,
        proprio=tuple(range(state_dim)),
        fps=fps,
        notes=notes,
    )


def recorded_episode(pixels, actions, rewards=None, state=None, terminated: bool = False) -> EpisodeArrays:
    """One recorded episode in wmgym's convention (T+1 observations, T actions), checked.

    Args:
        pixels: uint8 (T+1, H, W, 3) frames, already at the task's image size (`resize_frames`).
        actions: (T, A): action t was taken on frame t and led to frame t+1.
        rewards: (T,) reward received on arriving at frame t+1; None: zeros (no reward recorded).
        state: (T+1, S) proprioception at each frame; None: none (S = 0).
        terminated: the episode ended because the task did (its last step is ``terminated``, else
            ``truncated``).

    Raises:
        ValueError: shapes that do not fit together, frames that are not uint8, NaN or inf.
    """
    pixels = np.asarray(pixels)
    actions = np.asarray(actions, np.float32).reshape(len(actions), -1)
    t = len(actions)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3 or len(pixels) != t + 1:
        raise ValueError(f"pixels must be uint8 (T+1, H, W, 3) for {t} actions, got {pixels.dtype} {pixels.shape}")
    rewards = np.zeros(t, np.float32) if rewards is None else np.asarray(rewards, np.float32).reshape(-1)
    state = np.zeros((t + 1, 0), np.float32) if state is None else np.asarray(state, np.float32)
    if rewards.shape != (t,) or state.ndim != 2 or len(state) != t + 1:
        raise ValueError(f"rewards must be (T,) and state (T+1, S) for T={t}; got {rewards.shape} and {state.shape}")
    for what, x in (("actions", actions), ("rewards", rewards), ("state", state)):
        if not np.isfinite(x).all():
            raise ValueError(f"NaN or inf in the recorded {what}; clean them before importing")
    ends = np.zeros(t, bool)
    ends[-1:] = True
    return EpisodeArrays(pixels, state, actions, rewards, ends & terminated, ends & (not terminated), None)


def resize_frames(frames: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """uint8 frames (N, h, w, 3) resized to ``image_size`` (H, W) by area averaging (Pillow's box filter,
    which does not alias when shrinking); the aspect ratio follows ``image_size``."""
    h, w = image_size
    if frames.shape[1:3] == (h, w):
        return np.ascontiguousarray(frames, np.uint8)
    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BOX)) for f in frames])


def action_box(actions: Iterable[np.ndarray]) -> spaces.Box:
    """The smallest box holding every recorded action: what the dream clips a policy's actions to."""
    stacked = np.concatenate([np.asarray(a, np.float32).reshape(len(a), -1) for a in actions])
    return spaces.Box(stacked.min(0), stacked.max(0), dtype=np.float32)


def write_dataset(
    out: str | Path,
    spec: TaskSpec,
    action_space: spaces.Box,
    episodes: Iterable[EpisodeArrays],
    source: dict,
    progress: bool = True,
    total: int | None = None,
) -> Path:
    """Write recorded ``episodes`` as a wmgym dataset folder ``out`` (which must not exist or be empty).

    The folder appears only once complete: it is written beside ``out`` and renamed, so an
    interrupted import leaves no half dataset to train on.

    Args:
        out: the dataset folder (``wmgym train --data out``).
        spec: the task (`own_task`).
        action_space: the action box (`action_box`).
        episodes: `recorded_episode`\\ s, frames at ``spec.image_size``.
        source: where the data came from (format, path, keys used), kept in ``wmgym.json``.
        progress: show a progress bar.
        total: number of episodes, for the progress bar.

    Raises:
        DatasetExistsError: ``out`` exists and is not empty.
    """
    out = Path(out).absolute()  # minari's size bookkeeping breaks on relative paths
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise store.DatasetExistsError(
            f"{out} exists and is not empty; refusing to overwrite it. Choose another --out (or remove it yourself)."
        )
    tmp = out.parent / f".{out.name}.importing"
    shutil.rmtree(tmp, ignore_errors=True)
    storage = store.create(tmp, _record(spec, source), _observation_space(spec), action_space, REQUIREMENTS)
    try:
        for i, ep in enumerate(tqdm(episodes, total=total, desc="import", unit="episode", disable=not progress)):
            _check_fits(ep, spec, action_space, i)
            store.append_episode(storage, i, i, ep)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _observation_space(spec: TaskSpec) -> spaces.Dict:
    h, w = spec.image_size
    obs = {"pixels": spaces.Box(0, 255, (h, w, 3), np.uint8)}
    if spec.proprio:
        obs["state"] = spaces.Box(-np.inf, np.inf, (len(spec.proprio),), np.float32)
    return spaces.Dict(obs)


def _record(spec: TaskSpec, source: dict) -> dict:
    fmt = source.get("format", "recorded")
    return {
        "format": 1,
        "dataset_id": f"own/{spec.name}-v0",
        "task": spec.to_dict(),
        "policy": f"recorded ({fmt})",
        "seed": None,
        "source": source,
        "description": f"recorded episodes of task {spec.name!r}, imported from {fmt} by wmgym: frames resized to "
        f"{spec.image_size[0]}x{spec.image_size[1]}, {len(spec.proprio or ())} proprioception entries, no physics state.",
    }


def _check_fits(ep: EpisodeArrays, spec: TaskSpec, action_space: spaces.Box, index: int) -> None:
    want = (*spec.image_size, 3)
    if ep.pixels.shape[1:] != want or ep.state.shape[-1] != len(spec.proprio or ()):
        raise ValueError(
            f"episode {index} has frames {ep.pixels.shape[1:]} and state {ep.state.shape[1:]}; the task wants "
            f"{want} and ({len(spec.proprio or ())},): resize its frames (resize_frames) and record the same sensors"
        )
    if ep.actions.shape[-1] != action_space.shape[0]:
        raise ValueError(
            f"episode {index} has {ep.actions.shape[-1]} action entries, the others {action_space.shape[0]}"
        )
