"""Read a LeRobot dataset folder (codebase v2.0, v2.1 or v3.0) into a wmgym dataset, without the
``lerobot`` package: ``meta/info.json`` with pyarrow for the parquet tables and imageio-ffmpeg for the
mp4s (its bundled ffmpeg decodes LeRobot's AV1 as well as H.264).

What is read, per version (the layout ``info.json`` names in ``data_path`` and ``video_path``):

- v2.0 / v2.1: ``data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet``, one episode a
  file; ``videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4``.
- v3.0: ``data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet``, many episodes a file;
  ``videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4``, an episode starting at
  ``videos/{video_key}/from_timestamp`` of its row in ``meta/episodes/*/*.parquet``.

Every parquet file under ``data/`` is read and its rows grouped by ``episode_index`` and ordered by
``frame_index``, which is the same in both layouts. A frame is the video frame at
``round((from_timestamp + timestamp) * fps)``. Cameras stored as images in the parquet (dtype
``image``: PNG bytes) are read too.

LeRobot's rows are per frame: frame t, the action commanded at t, ``next.reward`` received after it.
N frames give N - 1 transitions in wmgym's convention; the action of the last frame, which led to no
recorded frame, is dropped.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from wmgym.data.own import action_box, own_task, recorded_episode, resize_frames, write_dataset

VERSIONS = ("v2.0", "v2.1", "v3.0")
"""LeRobot codebase versions this reader reads (``meta/info.json``'s ``codebase_version``)."""


@dataclass(frozen=True)
class LeRobotImport:
    """What `import_lerobot` read and wrote."""

    out: Path
    version: str
    episodes: int
    frames: int
    camera: str
    state_keys: tuple[str, ...]
    reward_key: str | None
    """None where the data records no reward (the dataset's rewards are then zeros)."""


def read_info(root: str | Path) -> dict:
    """``meta/info.json`` of a LeRobot dataset folder, checked to be a version this reader reads."""
    file = Path(root) / "meta" / "info.json"
    if not file.is_file():
        raise FileNotFoundError(f"{root} is not a LeRobot dataset folder: no meta/info.json")
    info = json.loads(file.read_text())
    version = info.get("codebase_version")
    if version not in VERSIONS:
        raise ValueError(
            f"{root} is LeRobot codebase {version!r}; wmgym reads {', '.join(VERSIONS)}. Convert it with LeRobot's "
            "own conversion script first (e.g. lerobot.datasets.v30.convert_dataset_v21_to_v30)"
        )
    return info


def cameras(info: dict) -> list[str]:
    """The features that hold frames (dtype ``video`` or ``image``), in the order info.json lists them."""
    return [k for k, f in info["features"].items() if f.get("dtype") in ("video", "image")]


def import_lerobot(
    path: str | Path,
    out: str | Path,
    task_name: str,
    camera: str | None = None,
    state_keys: tuple[str, ...] | None = None,
    action_key: str = "action",
    reward_key: str = "next.reward",
    image_size: tuple[int, int] = (64, 64),
    terminal: bool = False,
    max_episodes: int | None = None,
    progress: bool = True,
) -> LeRobotImport:
    """Convert the LeRobot dataset folder ``path`` into the wmgym dataset ``out`` of task ``task_name``.

    Args:
        path: the LeRobot dataset folder (holding ``meta/info.json``), e.g. a Hugging Face snapshot.
        out: the wmgym dataset folder to write (must not exist or be empty).
        task_name: the task's name; checkpoints trained on the data carry it.
        camera: the camera feature to use (default: the first that info.json lists).
        state_keys: proprioception features, concatenated in this order (default:
            ``observation.state`` if the dataset has it, else none).
        action_key: the action feature.
        reward_key: the reward feature; where the dataset has none, rewards are zeros.
        image_size: (height, width) frames are resized to; multiples of 16.
        terminal: the episodes end because the task ended (a success, a fall), not because the
            recording stopped: the dream then learns to end episodes.
        max_episodes: read only the first this many episodes.
        progress: show a progress bar.

    Raises:
        FileNotFoundError: not a LeRobot folder, or a file it names is missing.
        ValueError: an unsupported version, or a feature that is not there.
    """
    root = Path(path)
    info = read_info(root)
    cam = _camera(info, camera)
    states = _state_keys(info, state_keys)
    reward = reward_key if reward_key in info["features"] else None
    _check_features(info, (action_key, *states))
    columns = ["episode_index", "frame_index", "timestamp", action_key, *states, *([reward] if reward else [])]
    if info["features"][cam]["dtype"] == "image":
        columns.append(cam)
    table = _episodes_table(root, columns, max_episodes)
    lengths = [len(t["frame_index"]) - 1 for t in table.values()]
    spec = own_task(
        task_name,
        sum(_width(info, k) for k in states),
        max(lengths),
        image_size,
        fps=float(info["fps"]),
        terminates=terminal,
        notes=f"LeRobot {info['codebase_version']} dataset {root.name}, camera {cam}",
    )
    actions = action_box(t[action_key][:-1] for t in table.values())
    source = {
        "format": f"lerobot {info['codebase_version']}",
        "path": str(root.absolute()),
        "camera": cam,
        "state_keys": list(states),
        "action_key": action_key,
        "reward_key": reward,
        "robot_type": info.get("robot_type"),
    }
    frames = _Frames(root, info, cam, image_size, table)
    episodes = (
        recorded_episode(
            frames.of(ep, t),
            t[action_key][:-1],
            t[reward][:-1] if reward else None,
            np.concatenate([t[k].reshape(len(t[k]), -1) for k in states], -1) if states else None,
            terminated=terminal,
        )
        for ep, t in table.items()
    )
    write_dataset(out, spec, actions, episodes, source, progress, total=len(table))
    return LeRobotImport(
        Path(out), info["codebase_version"], len(table), sum(lengths) + len(lengths), cam, states, reward
    )


def _camera(info: dict, camera: str | None) -> str:
    found = cameras(info)
    if not found:
        raise ValueError("the dataset has no camera (no feature of dtype video or image): a world model learns frames")
    if camera is None:
        return found[0]
    if camera not in found:
        raise ValueError(f"no camera {camera!r} in the dataset; it has {', '.join(found)}")
    return camera


def _state_keys(info: dict, state_keys: tuple[str, ...] | None) -> tuple[str, ...]:
    if state_keys is None:
        return ("observation.state",) if "observation.state" in info["features"] else ()
    return tuple(state_keys)


def _check_features(info: dict, keys) -> None:
    missing = [k for k in keys if k not in info["features"]]
    if missing:
        numeric = [k for k, f in info["features"].items() if f.get("dtype") not in ("video", "image", "string")]
        raise ValueError(
            f"no feature {', '.join(map(repr, missing))} in the dataset; its vectors: {', '.join(numeric)}"
        )


def _width(info: dict, key: str) -> int:
    return int(np.prod(info["features"][key]["shape"]))


def _episodes_table(root: Path, columns: list[str], max_episodes: int | None) -> dict[int, dict[str, np.ndarray]]:
    """Every parquet file under data/, as numpy columns per episode (rows in frame order)."""
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no parquet files under {root / 'data'}")
    table = pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    table = table.sort_by([("episode_index", "ascending"), ("frame_index", "ascending")])
    index = table.column("episode_index").to_numpy()
    wanted = np.unique(index)[:max_episodes]
    out = {}
    for ep in wanted:
        rows = table.filter(pc.equal(table.column("episode_index"), ep))
        if rows.num_rows >= 2:  # one frame is no transition
            out[int(ep)] = {c: _numpy(rows.column(c)) for c in columns if c != "episode_index"}
    if not out:
        raise ValueError(f"{root} holds no episode of two frames or more")
    return out


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A parquet column as numpy: list columns (vectors) as (N, D), image structs as a list of dicts."""
    column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type):
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(column), -1)
    if pa.types.is_struct(column.type):
        return np.array(column.to_pylist(), dtype=object)
    return column.to_numpy(zero_copy_only=False)


class _Frames:
    """A camera's frames per episode, resized; each mp4 is decoded once (v3.0 files hold many episodes)."""

    def __init__(self, root: Path, info: dict, camera: str, image_size, table: dict):
        self.root, self.info, self.camera, self.size = root, info, camera, tuple(image_size)
        feature = info["features"][camera]
        self.fps = float(feature.get("info", {}).get("video.fps", info["fps"]))
        self.video = feature["dtype"] == "video"
        self.v3 = info["codebase_version"] == "v3.0"
        self.where = _v3_locations(root, info, camera) if self.video and self.v3 else {}
        self._file, self._frames = None, {}
        self._wanted: dict[Path, set[int]] = {}  # file -> the frame indices its episodes need
        for ep, t in table.items() if self.video else ():
            file, start = self._locate(ep)
            self._wanted.setdefault(file, set()).update(self._indices(start, t["timestamp"]))

    def of(self, episode: int, rows: dict) -> np.ndarray:
        """uint8 (N, H, W, 3): the episode's frames at the task's image size."""
        if not self.video:  # images stored in the parquet
            return resize_frames(np.stack([_png(x) for x in rows[self.camera]]), self.size)
        file, start = self._locate(episode)
        if file != self._file:
            self._file, self._frames = file, _decode(file, self._wanted[file], self.size)
        idx = self._indices(start, rows["timestamp"])
        missing = [i for i in idx if i not in self._frames]
        if missing:
            raise ValueError(
                f"{file} has {len(self._frames)} decodable frames of those asked; episode {episode} needs frame "
                f"{missing[0]} (timestamps against fps {self.fps:g}): is the video complete?"
            )
        return np.stack([self._frames[i] for i in idx])

    def _locate(self, episode: int) -> tuple[Path, float]:
        if self.v3:
            return self.where[episode]
        chunk = episode // int(self.info.get("chunks_size", 1000))
        name = self.info["video_path"].format(episode_chunk=chunk, video_key=self.camera, episode_index=episode)
        return self.root / name, 0.0

    def _indices(self, start: float, timestamps: np.ndarray) -> list[int]:
        return [int(round((start + float(t)) * self.fps)) for t in np.asarray(timestamps).reshape(-1)]


def _v3_locations(root: Path, info: dict, camera: str) -> dict[int, tuple[Path, float]]:
    """v3.0: episode -> (its mp4, the timestamp it starts at), from meta/episodes/*/*.parquet."""
    keys = [f"videos/{camera}/chunk_index", f"videos/{camera}/file_index", f"videos/{camera}/from_timestamp"]
    files = sorted((root / "meta" / "episodes").rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no meta/episodes/*/*.parquet in {root}: a v3.0 dataset lists its episodes there")
    meta = pa.concat_tables([pq.read_table(f, columns=["episode_index", *keys]) for f in files]).to_pydict()
    out = {}
    for ep, chunk, file, start in zip(meta["episode_index"], *(meta[k] for k in keys), strict=True):
        name = info["video_path"].format(video_key=camera, chunk_index=chunk, file_index=file)
        out[int(ep)] = (root / name, float(start))
    return out


def _decode(file: Path, wanted: set[int], size: tuple[int, int]) -> dict[int, np.ndarray]:
    """The frames of ``file`` whose index is in ``wanted``, resized (one pass through the video)."""
    if not file.is_file():
        raise FileNotFoundError(f"video {file} is missing")
    last = max(wanted)
    frames = {}
    for i, frame in enumerate(iio.imiter(file, plugin="FFMPEG")):
        if i in wanted:
            frames[i] = resize_frames(frame[None, ..., :3], size)[0]
        if i >= last:
            break
    return frames


def _png(cell: dict) -> np.ndarray:
    """An image cell of a parquet (LeRobot's ``{"bytes": ..., "path": ...}``) as uint8 RGB."""
    if not cell or cell.get("bytes") is None:
        raise ValueError("an image cell holds no bytes (only a path): this reader reads images embedded in the parquet")
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])).convert("RGB"))
