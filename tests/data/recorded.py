"""Small recorded datasets that wmgym did not collect, written the way their own tools write them.

A toy robot: a point on a plane, moved by velocity actions, seen by a 96x128 camera (not the
task's 64x64, so the import resizes). Its proprioception is its position and velocity; its reward
the distance to a goal. `write_lerobot` writes LeRobot's on-disk layout (v2.1: a parquet and an mp4
per episode; v3.0: episodes packed into shared files) with pyarrow and imageio; `write_minari`
records episodes with Minari's own `DataCollector` (frames JPEG-encoded, Minari's default).
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

H, W = 96, 128
GOAL = np.array([0.5, -0.3], np.float32)
V2_DATA = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V2_VIDEO = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
V3_DATA = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
V3_VIDEO = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CAMERA = "observation.images.top"


class PointRobot(gym.Env):
    """The toy robot as a gymnasium env, for Minari's DataCollector."""

    metadata = {"render_modes": []}

    def __init__(self, steps: int = 20):
        self.steps = steps
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (H, W, 3), np.uint8),
                "joints": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.8, 0.8, 2).astype(np.float32)
        self.vel = np.zeros(2, np.float32)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.vel = 0.1 * np.clip(np.asarray(action, np.float32), -1, 1)
        self.pos = np.clip(self.pos + self.vel, -1, 1)
        self.t += 1
        reward = -float(np.linalg.norm(self.pos - GOAL))
        return self._obs(), reward, False, self.t >= self.steps, {}

    def _obs(self):
        return {"image": draw(self.pos), "joints": np.concatenate([self.pos, self.vel])}


def draw(pos: np.ndarray) -> np.ndarray:
    """The camera's view: grey floor, green goal, red robot (squares)."""
    frame = np.full((H, W, 3), 90, np.uint8)
    for (x, y), colour, r in ((GOAL, (40, 200, 60), 5), (pos, (220, 40, 40), 8)):
        cy, cx = int((1 - (y + 1) / 2) * (H - 1)), int((x + 1) / 2 * (W - 1))
        frame[max(cy - r, 0) : cy + r, max(cx - r, 0) : cx + r] = colour
    return frame


def episode(seed: int, steps: int) -> dict[str, np.ndarray]:
    """One recording, LeRobot-style: per frame (steps + 1 of them) the frame, the state, the action
    commanded at it, the reward after it, and whether the episode is done after it."""
    env, rng = PointRobot(steps), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    frames, states, actions, rewards = [obs["image"]], [obs["joints"]], [], []
    for _ in range(steps + 1):
        a = rng.uniform(-1, 1, 2).astype(np.float32)
        obs, r, *_ = env.step(a)
        actions.append(a)
        rewards.append(r)
        frames.append(obs["image"])
        states.append(obs["joints"])
    n = steps + 1  # the last frame's action and reward lead past the recording, as in LeRobot
    done = np.zeros(n, bool)
    done[-1] = True
    return {
        "frames": np.stack(frames[:n]),
        "observation.state": np.stack(states[:n]),
        "action": np.stack(actions),
        "next.reward": np.array(rewards, np.float32),
        "next.done": done,
    }


def write_lerobot(root: Path, version: str = "v2.1", episodes: int = 3, steps: int = 20, fps: int = 10) -> Path:
    """A LeRobot dataset folder of the toy robot, in codebase ``version`` ("v2.1" or "v3.0")."""
    eps = [episode(i, steps) for i in range(episodes)]
    v3 = version == "v3.0"
    features = {
        "observation.state": {"dtype": "float32", "shape": [4], "names": ["x", "y", "vx", "vy"]},
        "action": {"dtype": "float32", "shape": [2], "names": ["vx", "vy"]},
        "next.reward": {"dtype": "float32", "shape": [1], "names": None},
        "next.done": {"dtype": "bool", "shape": [1], "names": None},
        CAMERA: {
            "dtype": "video",
            "shape": [H, W, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.fps": float(fps), "video.height": H, "video.width": W, "video.codec": "h264"},
        },
        **{k: {"dtype": "int64", "shape": [1], "names": None} for k in ("frame_index", "episode_index", "index")},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    }
    info = {
        "codebase_version": version,
        "robot_type": "point",
        "total_episodes": episodes,
        "total_frames": sum(len(e["frames"]) for e in eps),
        "chunks_size": 1000,
        "fps": fps,
        "data_path": V3_DATA if v3 else V2_DATA,
        "video_path": V3_VIDEO if v3 else V2_VIDEO,
        "features": features,
    }
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    (_write_v3 if v3 else _write_v2)(root, eps, fps)
    return root


def _table(ep: dict, index: int, first_row: int) -> pa.Table:
    n = len(ep["frames"])
    cols = {k: ep[k] for k in ("next.reward", "next.done")}
    cols |= {k: list(ep[k]) for k in ("observation.state", "action")}  # vectors: list<float> columns
    cols |= {
        "timestamp": np.arange(n, dtype=np.float32) / 10,
        "frame_index": np.arange(n),
        "episode_index": np.full(n, index),
        "index": first_row + np.arange(n),
    }
    return pa.table(cols)


def _write_v2(root: Path, eps: list[dict], fps: int) -> None:
    first = 0
    for i, ep in enumerate(eps):
        data = root / V2_DATA.format(episode_chunk=0, episode_index=i)
        data.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(ep, i, first), data)
        _mp4(root / V2_VIDEO.format(episode_chunk=0, video_key=CAMERA, episode_index=i), ep["frames"], fps)
        first += len(ep["frames"])
    lines = [
        json.dumps({"episode_index": i, "tasks": ["reach"], "length": len(e["frames"])}) for i, e in enumerate(eps)
    ]
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")


def _write_v3(root: Path, eps: list[dict], fps: int) -> None:
    """All episodes in one data file and one video file, as LeRobot v3.0 packs them."""
    tables, firsts, first = [], [], 0
    for i, ep in enumerate(eps):
        tables.append(_table(ep, i, first))
        firsts.append(first)
        first += len(ep["frames"])
    data = root / V3_DATA.format(chunk_index=0, file_index=0)
    data.parent.mkdir(parents=True)
    pq.write_table(pa.concat_tables(tables), data)
    _mp4(
        root / V3_VIDEO.format(video_key=CAMERA, chunk_index=0, file_index=0),
        np.concatenate([e["frames"] for e in eps]),
        fps,
    )
    key = f"videos/{CAMERA}"
    meta = {
        "episode_index": list(range(len(eps))),
        "length": [len(e["frames"]) for e in eps],
        "dataset_from_index": firsts,
        "dataset_to_index": [f + len(e["frames"]) for f, e in zip(firsts, eps, strict=True)],
        "data/chunk_index": [0] * len(eps),
        "data/file_index": [0] * len(eps),
        f"{key}/chunk_index": [0] * len(eps),
        f"{key}/file_index": [0] * len(eps),
        f"{key}/from_timestamp": [f / fps for f in firsts],
        f"{key}/to_timestamp": [(f + len(e["frames"])) / fps for f, e in zip(firsts, eps, strict=True)],
    }
    file = root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    file.parent.mkdir(parents=True)
    pq.write_table(pa.table(meta), file)


def _mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # near-lossless, so a test can compare the imported frames with the drawn ones
    imageio.mimwrite(path, list(frames), fps=fps, codec="libx264", macro_block_size=1, output_params=["-crf", "0"])


def write_minari(dataset_id: str, episodes: int = 3, steps: int = 20) -> None:
    """Record toy-robot episodes with Minari's DataCollector into ``$MINARI_DATASETS_PATH``."""
    from minari import DataCollector

    env = DataCollector(PointRobot(steps), data_format="arrow")  # minari[hdf5] is not installed
    rng = np.random.default_rng(0)
    for i in range(episodes):
        env.reset(seed=i)
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
            done = terminated or truncated
    env.create_dataset(dataset_id=dataset_id, algorithm_name="random", description="toy point robot")
    env.close()
