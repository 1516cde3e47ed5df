"""Training batches of (B, T) windows from one or many datasets, with a held-out split by episode.

Windows follow DreamerV3's replay convention: row ``t`` holds the observation at ``t`` together
with the action that led to it and the reward and termination received on arriving there. The
first row of every episode has ``is_first=True`` and a zero action and reward. Windows may run
across the end of one episode into the next (the model resets its state where ``is_first``),
so episodes shorter than ``T`` (a falling hopper) are still used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wmgym.data.store import EpisodeArrays, load_episodes
from wmgym.tasks.spec import TaskSpec

SPLITS = ("train", "heldout")


def split_episodes(n: int, heldout_fraction: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Episode indices of each split: a seeded random ``heldout_fraction`` (at least one when n > 1)."""
    order = np.random.default_rng([seed, n]).permutation(n)
    k = int(round(n * heldout_fraction))
    if heldout_fraction > 0 and n > 1:
        k = max(k, 1)
    return {"heldout": np.sort(order[:k]), "train": np.sort(order[k:])}


class SequenceSampler:
    """Uniformly sampled (B, T) windows of pixels, state, action, reward, termination.

    Args:
        datasets: dataset folders (``wmgym collect --out``); all must share one task.
        seq_len: T, the window length.
        batch_size: B, windows per batch.
        split: ``"train"`` or ``"heldout"``.
        heldout_fraction: share of each dataset's episodes held out (by episode, never by step).
        split_seed: seeds the split; the same value always holds out the same episodes.
        seed: seeds which windows are drawn; `state_dict` saves the generator for exact resume.
        weights: share of each batch drawn from each dataset, in order (normalized); None: every window
            of the split equally likely (datasets count by their frames).
        pixels: batches hold frames, drawn only from datasets that have them; a state-only dataset
            (``wmgym collect --no-pixels``) then only counts in `all_episodes` (the data statistics).
            False: no frames, windows from every dataset (what a full-state model's dynamics train on).

    Example:
        >>> sampler = SequenceSampler(["data/reacher-random"], seq_len=32, batch_size=16)
        >>> batch = sampler.sample()
        >>> batch["pixels"].shape
        (16, 32, 64, 64, 3)
    """

    def __init__(
        self,
        datasets: str | Path | Sequence[str | Path],
        seq_len: int,
        batch_size: int,
        split: str = "train",
        heldout_fraction: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        weights: Sequence[float] | None = None,
        pixels: bool = True,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len and batch_size must be positive, got {seq_len} and {batch_size}")
        paths = [datasets] if isinstance(datasets, str | Path) else list(datasets)
        if not paths:
            raise ValueError("SequenceSampler needs at least one dataset folder")
        self.spec: TaskSpec | None = None
        self.pixels = pixels
        self.episodes: list[EpisodeArrays] = []
        """The episodes of this split that windows are drawn from."""
        self.all_episodes: list[EpisodeArrays] = []
        """Every episode of this split, state-only ones included when ``pixels`` leaves them out of
        the windows: the data statistics are taken over these, so a run with frames and one without,
        on the same datasets, normalize alike."""
        self.other_split: list[EpisodeArrays] = []
        """Episodes of the other split (e.g. the held-out ones of a train sampler), for evaluation."""
        other = SPLITS[1 - SPLITS.index(split)]
        rows, kept = [], []  # observations of this split in each dataset drawn from, and its index
        for k, path in enumerate(paths):
            spec, eps = load_episodes(path)
            self._check_compatible(spec, path)
            splits = split_episodes(len(eps), heldout_fraction, split_seed)
            mine = [eps[i] for i in splits[split]]
            self.all_episodes += mine
            if pixels and any(ep.pixels is None for ep in eps):
                continue  # state only: no frames to draw
            self.episodes += mine
            self.other_split += [eps[i] for i in splits[other]]
            rows.append(sum(len(ep) + 1 for ep in mine))
            kept.append(k)
        if not kept:
            raise ValueError(
                f"none of the datasets {', '.join(map(str, paths))} has frames: they are state-only "
                "(wmgym collect --no-pixels), which train only a full-state model's dynamics; add a dataset "
                "collected with frames"
            )
        self.seq_len, self.batch_size = seq_len, batch_size
        if weights is not None and len(weights) == len(paths):
            weights = [weights[k] for k in kept]  # a state-only dataset's share is not drawn here
        self._weights, self._bounds = _weighted(weights, rows, seq_len, split, [paths[k] for k in kept])
        self._table = episode_rows(self.episodes, pixels)
        n = len(self._table["reward"])
        if n < seq_len:
            raise ValueError(
                f"the {split} split has {n} observations in {len(self.episodes)} episodes, fewer than seq_len={seq_len}; "
                "collect more episodes or use a shorter window"
            )
        self.rng = np.random.default_rng(seed)

    @property
    def num_frames(self) -> int:
        """Observations in this split."""
        return len(self._table["reward"])

    def sample(self) -> dict[str, np.ndarray]:
        """One batch: ``pixels`` uint8 (B,T,H,W,3) (unless ``pixels`` is false), ``state`` (B,T,S),
        ``action`` (B,T,A), ``reward`` (B,T), ``terminated`` (B,T) bool, ``is_first`` (B,T) bool."""
        if self._weights is None:
            starts = self.rng.integers(0, self.num_frames - self.seq_len + 1, size=self.batch_size)
        else:  # a dataset per window, then a window inside it
            which = self.rng.choice(len(self._weights), size=self.batch_size, p=self._weights)
            low, high = self._bounds[which].T
            starts = self.rng.integers(low, high - self.seq_len + 1)
        idx = starts[:, None] + np.arange(self.seq_len)
        return {k: v[idx] for k, v in self._table.items()}

    def __iter__(self):
        while True:
            yield self.sample()

    def state_dict(self) -> dict:
        """The generator state; with `load_state_dict` a resumed run draws the same batches."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _check_compatible(self, spec: TaskSpec, path) -> None:
        if self.spec is None:
            self.spec = spec
        elif spec != self.spec:
            raise ValueError(
                f"dataset {path} was collected for task {spec.name!r} with a different spec than the first "
                f"dataset ({self.spec.name!r}); a sampler mixes datasets of one task only"
            )


def _weighted(weights, rows: list[int], seq_len: int, split: str, paths) -> tuple:
    """Normalized ``weights`` and each dataset's (first, end) row in the table; (None, None) for none."""
    if weights is None:
        return None, None
    w = np.asarray(weights, np.float64)
    if w.shape != (len(rows),) or (w < 0).any() or not w.sum() > 0:
        raise ValueError(
            f"weights must be one share >= 0 per dataset ({len(rows)} given), with a positive sum; got {list(weights)}"
        )
    short = [str(p) for p, n, x in zip(paths, rows, w, strict=True) if x > 0 and n < seq_len]
    if short:
        raise ValueError(
            f"the {split} split of {', '.join(short)} holds fewer observations than seq_len={seq_len}, so no window "
            "can be drawn from it; give it weight 0, collect more episodes or use a shorter window"
        )
    ends = np.cumsum(rows)
    return w / w.sum(), np.stack([ends - np.asarray(rows), ends], 1)


def episode_rows(episodes: list[EpisodeArrays], pixels: bool = True) -> dict[str, np.ndarray]:
    """Concatenate episodes into one table of T+1 rows each, in the replay convention above (without
    frames where ``pixels`` is false)."""

    def shifted(x, fill):  # value received on arriving at row t: none for the first row
        return np.concatenate([np.full((1, *x.shape[1:]), fill, x.dtype), x])

    cols = {
        **({"pixels": []} if pixels else {}),
        "state": [],
        "action": [],
        "reward": [],
        "terminated": [],
        "is_first": [],
    }
    for ep in episodes:
        if pixels:
            cols["pixels"].append(ep.pixels)
        cols["state"].append(ep.state)
        cols["action"].append(shifted(ep.actions, 0))
        cols["reward"].append(shifted(ep.rewards, 0))
        cols["terminated"].append(shifted(ep.terminations, False))
        first = np.zeros(len(ep) + 1, bool)
        first[0] = True
        cols["is_first"].append(first)
    if not episodes:
        return {k: np.zeros((0,)) for k in cols}
    return {k: np.concatenate(v) for k, v in cols.items()}
