"""On-disk datasets: standard Minari datasets (arrow storage, lossless frames) plus a wmgym record.

Layout of a dataset folder ``DIR``::

    DIR/wmgym.json      what was collected and how (TaskSpec, policy, seed), written once, atomically
    DIR/data/           a Minari dataset: ``minari.MinariDataset("DIR/data")`` reads it
        metadata.json
        0/ 1/ ...       one folder per episode; its metadata.json is written after its data

Episodes are written one at a time as they finish, so an interrupted collection keeps every
finished episode; `open_for_append` drops a half-written one and repairs the counters.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_storage import MinariStorage

from wmgym.tasks.spec import TaskSpec

RECORD = "wmgym.json"
DATA = "data"


@dataclass(frozen=True)
class EpisodeArrays:
    """One episode as numpy arrays: T steps, T+1 observations."""

    pixels: np.ndarray | None  # uint8 (T+1, H, W, 3); None in a state-only dataset (unrendered: dynamics only)
    state: np.ndarray  # float32 (T+1, S)
    actions: np.ndarray  # float32 (T, A)
    rewards: np.ndarray  # float32 (T,)
    terminations: np.ndarray  # bool (T,)
    truncations: np.ndarray  # bool (T,)
    physics_state: np.ndarray | None  # float64 (T+1, P), mjSTATE_INTEGRATION before each observation;
    # None for recorded data with no MuJoCo behind it (`wmgym.data.own`); state is then (T+1, S>=0)

    def __len__(self) -> int:
        return len(self.actions)


class DatasetExistsError(FileExistsError):
    """``--out`` holds something that a new collection must not overwrite."""


def create(
    out: Path,
    record: dict,
    observation_space: gym.Space,
    action_space: gym.Space,
    requirements: tuple[str, ...] = ("wmgym", "gymnasium[mujoco]", "mujoco<4"),
) -> MinariStorage:
    """Start a new dataset in ``out`` (missing or empty). ``record`` says how it is collected;
    ``requirements`` go into Minari's metadata (what it takes to recreate the data)."""
    out.mkdir(parents=True, exist_ok=True)
    storage = MinariStorage.new(
        out / DATA,
        observation_space=observation_space,
        action_space=action_space,
        data_format="arrow",
        jpeg_encoding=False,  # lossless frames: a world model learns the pixels
    )
    storage.update_metadata(
        {
            "dataset_id": record["dataset_id"],
            "minari_version": minari.__version__,
            "algorithm_name": record["policy"],
            "author": {"wmgym"},
            "code_permalink": "https://github.com/wmgym/wmgym",
            "description": record["description"],
            "requirements": list(requirements),
        }
    )
    record = {**record, "minari_metadata": MinariStorage.read_raw_metadata(out / DATA)}
    _write_json_atomic(out / RECORD, record)
    return _with_running_size(storage)


def read_record(path: Path) -> dict | None:
    """The wmgym record of a dataset folder, or None if ``path`` is not one."""
    file = Path(path) / RECORD
    if not file.is_file():
        return None
    return json.loads(file.read_text())


def open_for_append(out: Path) -> tuple[MinariStorage, int]:
    """Open an existing dataset to add episodes; returns it and its number of finished episodes.

    A folder left by a killed collection is repaired first: a half-written episode (data without
    its metadata.json) is removed and the episode and step counts are recomputed.
    """
    data = out / DATA
    record = read_record(out)
    try:
        MinariStorage.read_raw_metadata(data)
    except (ValueError, json.JSONDecodeError):  # metadata.json torn by a kill mid-write
        _write_json_atomic(data / "metadata.json", record["minari_metadata"])
    done, steps = 0, 0
    while (meta := data / str(done) / "metadata.json").is_file():
        try:
            steps += json.loads(meta.read_text())["total_steps"]
        except (json.JSONDecodeError, KeyError):
            break
        done += 1
    for child in data.iterdir():
        if child.is_dir() and child.name.isdigit() and int(child.name) >= done:
            shutil.rmtree(child)
    raw = MinariStorage.read_raw_metadata(data)
    if raw.get("total_episodes") != done or raw.get("total_steps") != steps:
        raw.update(total_episodes=done, total_steps=steps)
        _write_json_atomic(data / "metadata.json", raw)
    return _with_running_size(MinariStorage.read(data)), done


class _RunningSize:
    """Minari's ``get_size`` kept as a running total: Minari calls it after every episode it writes, and
    it stats every file of the dataset, so writing n episodes cost O(n^2) (ad hoc: 309 ms an episode at
    3,000 episodes of Reacher state; 8.6 ms with this). Each episode's folder is complete when it is
    asked (data, then its metadata.json), so a folder is counted once, the first time it is seen."""

    def __init__(self, data_path: Path):
        self.path, self.seen, self.bytes = Path(data_path), set(), 0

    def __call__(self) -> float:
        top = 0  # the files beside the episode folders (metadata.json), which change
        for entry in os.scandir(self.path):
            if not entry.is_dir():
                top += entry.stat().st_size
            elif entry.name not in self.seen:  # every path's st_size, folders' too, as Minari counts
                self.seen.add(entry.name)
                self.bytes += entry.stat().st_size + sum(f.stat().st_size for f in Path(entry.path).glob("**/*"))
        return float(np.round((self.bytes + top) / 1e6, 1))  # in MB, as Minari's


def _with_running_size(storage: MinariStorage) -> MinariStorage:
    storage.get_size = _RunningSize(storage.data_path)
    return storage


def append_episode(storage: MinariStorage, index: int, seed: int, ep: EpisodeArrays) -> None:
    """Write one finished episode as Minari episode ``index`` (``pixels`` only if it has frames,
    ``state`` only if it has entries, ``infos["physics_state"]`` only if there is one)."""
    observations = {
        **({"pixels": ep.pixels} if ep.pixels is not None else {}),
        **({"state": ep.state} if ep.state.shape[-1] else {}),
    }
    storage.update_episodes(
        [
            EpisodeBuffer(
                id=index,
                seed=seed,
                observations=observations,
                actions=ep.actions,
                rewards=list(ep.rewards),
                terminations=list(ep.terminations),
                truncations=list(ep.truncations),
                infos={} if ep.physics_state is None else {"physics_state": ep.physics_state},
            )
        ]
    )


def load_episodes(path: str | Path) -> tuple[TaskSpec, list[EpisodeArrays]]:
    """Read a dataset folder (or its ``data/`` subfolder) into memory with Minari's own loader."""
    root = _dataset_root(path)
    record = read_record(root)
    dataset = minari.MinariDataset(root / DATA)
    episodes = [_arrays(ep) for ep in dataset.iterate_episodes()]
    return TaskSpec.from_dict(record["task"]), episodes


def _arrays(ep) -> EpisodeArrays:
    """A Minari episode as arrays; recorded data may lack the state (no proprioception: (T+1, 0))
    and the physics state (None), a state-only dataset the frames (None)."""
    pixels = ep.observations.get("pixels")
    state = ep.observations.get("state", np.zeros((len(ep.actions) + 1, 0), np.float32))
    return EpisodeArrays(
        pixels=pixels,
        state=state.astype(np.float32),
        actions=ep.actions.astype(np.float32),
        rewards=ep.rewards.astype(np.float32),
        terminations=ep.terminations.astype(bool),
        truncations=ep.truncations.astype(bool),
        physics_state=(ep.infos or {}).get("physics_state"),
    )


def has_pixels(record: dict) -> bool:
    """Whether a dataset (its wmgym record) holds frames; a state-only one (``wmgym collect --no-pixels``)
    holds the state alone, what the dynamics of a full-state model train on."""
    return record.get("pixels", True)


def dataset_has_pixels(path: str | Path) -> bool:
    """`has_pixels` of the dataset folder ``path``."""
    return has_pixels(read_record(_dataset_root(path)))


def action_space(path: str | Path) -> gym.spaces.Box:
    """The action space the dataset was collected with (from its Minari metadata)."""
    return MinariStorage.read(_dataset_root(path) / DATA).action_space


def fingerprint(path: str | Path) -> str:
    """A short hash that changes when the dataset's content or recipe changes."""
    root = _dataset_root(path)
    raw = MinariStorage.read_raw_metadata(root / DATA)
    record = read_record(root)
    key = json.dumps(
        [
            record["dataset_id"],
            record["task"],
            record["policy"],
            record["seed"],
            raw["total_episodes"],
            raw["total_steps"],
        ]
        # only where there is one, so the fingerprints of nominal datasets (in checkpoints) stay as they were
        + ([record["perturbation"]] if record.get("perturbation") else [])
        + (["state-only"] if not has_pixels(record) else []),
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def dataset_perturbation(path: str | Path):
    """The "real robot" a dataset was collected from (a `wmgym.truth.perturb.Perturbation`), or None
    for nominal MuJoCo (or recorded data)."""
    spec = read_record(_dataset_root(path)).get("perturbation")
    if not spec:
        return None
    from wmgym.truth.perturb import Perturbation  # plain data: no MuJoCo

    return Perturbation.from_dict(spec)


def _dataset_root(path: str | Path) -> Path:
    path = Path(path).absolute()
    if path.name == DATA and read_record(path.parent) is not None:
        path = path.parent
    if read_record(path) is None:
        raise FileNotFoundError(
            f"{path} is not a wmgym dataset (no {RECORD}); create one with "
            f"`wmgym collect --task reacher --episodes 100 --out {path}`"
        )
    return path


def _write_json_atomic(file: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=_json_default)
    os.replace(tmp, file)


def _json_default(obj):
    if isinstance(obj, set):
        return sorted(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialize {type(obj).__name__}")
