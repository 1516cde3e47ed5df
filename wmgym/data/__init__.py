"""Collecting truth episodes into Minari datasets, and sampling training windows from them."""

from wmgym.data.collect import CollectResult, collect, episode_seed
from wmgym.data.sampler import SequenceSampler, episode_rows, split_episodes
from wmgym.data.store import DatasetExistsError, EpisodeArrays, fingerprint, load_episodes

__all__ = [
    "CollectResult",
    "DatasetExistsError",
    "EpisodeArrays",
    "SequenceSampler",
    "collect",
    "episode_rows",
    "episode_seed",
    "fingerprint",
    "load_episodes",
    "split_episodes",
]
