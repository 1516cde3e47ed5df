"""Read a Minari dataset that wmgym did not collect into a wmgym dataset: one camera observation
(uint8 (H, W, 3)), actions, rewards, terminations and, if named, proprioception entries.

Minari's episodes already follow wmgym's convention (T+1 observations, T actions, the reward on
arriving), so frames are only resized and the named state entries concatenated. A dataset is read
twice, one episode at a time (first for the action box and lengths, then to write), so memory holds
one episode, not the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import minari
import numpy as np
from gymnasium import spaces

from wmgym.data.own import action_box, own_task, recorded_episode, resize_frames, write_dataset


@dataclass(frozen=True)
class MinariImport:
    """What `import_minari` read and wrote."""

    out: Path
    dataset_id: str
    episodes: int
    frames: int
    pixels_key: str | None
    """None where the observation is the frame itself."""
    state_keys: tuple[str, ...]


def open_minari(source: str | Path) -> minari.MinariDataset:
    """A Minari dataset by folder (the dataset's or its ``data/``) or by id (from ``$MINARI_DATASETS_PATH``,
    never downloaded)."""
    path = Path(source)
    for folder in (path / "data", path):
        if (folder / "metadata.json").is_file():
            return minari.MinariDataset(folder)
    if path.exists():
        raise FileNotFoundError(f"{path} is not a Minari dataset: no metadata.json in it or in its data/")
    try:
        return minari.load_dataset(str(source), download=False)
    except (FileNotFoundError, ValueError) as e:
        raise FileNotFoundError(
            f"no Minari dataset {str(source)!r} here (neither a folder nor a local id): {e}"
        ) from None


def import_minari(
    source: str | Path,
    out: str | Path,
    task_name: str,
    pixels_key: str | None = None,
    state_keys: tuple[str, ...] = (),
    image_size: tuple[int, int] = (64, 64),
    max_episodes: int | None = None,
    progress: bool = True,
) -> MinariImport:
    """Convert the Minari dataset ``source`` into the wmgym dataset ``out`` of task ``task_name``.

    Args:
        source: a Minari dataset folder, or a dataset id in ``$MINARI_DATASETS_PATH``.
        out: the wmgym dataset folder to write (must not exist or be empty).
        task_name: the task's name; checkpoints trained on the data carry it.
        pixels_key: the observation entry holding the camera's frames (default: the only uint8
            (H, W, 3) entry; none needed where the observation is the frame itself).
        state_keys: observation entries of proprioception (joint positions, velocities),
            concatenated in this order; none by default.
        image_size: (height, width) frames are resized to; multiples of 16.
        max_episodes: read only the first this many episodes.
        progress: show a progress bar.

    Raises:
        FileNotFoundError: no such dataset.
        ValueError: no camera observation, or a state key that is not a vector of the observation.
    """
    dataset = open_minari(source)
    pixels_key = _pixels_key(dataset.observation_space, pixels_key)
    _check_state_keys(dataset.observation_space, state_keys)
    indices = list(dataset.episode_indices)[:max_episodes]

    lengths, terminal, actions = [], False, []
    for ep in dataset.iterate_episodes(indices):  # first pass: no frames kept
        lengths.append(len(ep.actions))
        terminal |= bool(np.any(ep.terminations))
        actions.append(np.asarray(ep.actions, np.float32))
    dim = sum(int(np.prod(dataset.observation_space[k].shape)) for k in state_keys)
    spec = own_task(task_name, dim, max(lengths), image_size, terminates=terminal, notes=f"Minari {dataset.id}")
    recorded = (_episode(ep, pixels_key, state_keys, image_size) for ep in dataset.iterate_episodes(indices))
    source_info = {
        "format": "minari",
        "dataset_id": dataset.id,
        "pixels_key": pixels_key,
        "state_keys": list(state_keys),
    }
    write_dataset(out, spec, action_box(actions), recorded, source_info, progress, total=len(indices))
    return MinariImport(Path(out), dataset.id, len(indices), sum(lengths) + len(lengths), pixels_key, tuple(state_keys))


def _episode(ep, pixels_key: str | None, state_keys: tuple[str, ...], image_size):
    obs, n = ep.observations, len(ep.actions) + 1
    frames = resize_frames(np.asarray(obs[pixels_key] if pixels_key else obs), image_size)
    state = [np.asarray(obs[k], np.float32).reshape(n, -1) for k in state_keys]
    return recorded_episode(
        frames, ep.actions, ep.rewards, np.concatenate(state, -1) if state else None, bool(ep.terminations[-1])
    )


def _is_frame(space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[-1] == 3


def _pixels_key(space, key: str | None) -> str | None:
    if _is_frame(space):
        return None
    if not isinstance(space, spaces.Dict):
        raise ValueError(f"the observations are {space}, not frames: a world model here learns from a camera")
    frames = [k for k, s in space.spaces.items() if _is_frame(s)]
    if key is not None:
        if key not in frames:
            raise ValueError(f"observation {key!r} is not uint8 (H, W, 3) frames; those that are: {frames or 'none'}")
        return key
    if len(frames) != 1:
        raise ValueError(
            f"say which observation holds the camera (--pixels-key): found {frames or 'no uint8 (H, W, 3) entry'}"
        )
    return frames[0]


def _check_state_keys(space, keys: tuple[str, ...]) -> None:
    for k in keys:
        if not isinstance(space, spaces.Dict) or k not in space.spaces or _is_frame(space[k]):
            names = list(space.spaces) if isinstance(space, spaces.Dict) else []
            raise ValueError(f"state key {k!r} is not a vector of the observation; its entries: {names}")
