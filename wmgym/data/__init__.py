"""Collecting truth episodes into Minari datasets, and sampling training windows from them.

Names load on first use: training reads datasets (`sampler`, `store`) without loading MuJoCo,
which only collection (`collect`) needs.
"""

import importlib

_PUBLIC = {
    "CollectResult": "wmgym.data.collection",
    "collect": "wmgym.data.collection",
    "episode_seed": "wmgym.data.collection",
    "SequenceSampler": "wmgym.data.sampler",
    "episode_rows": "wmgym.data.sampler",
    "split_episodes": "wmgym.data.sampler",
    "DatasetExistsError": "wmgym.data.store",
    "EpisodeArrays": "wmgym.data.store",
    "fingerprint": "wmgym.data.store",
    "load_episodes": "wmgym.data.store",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'wmgym.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = sorted(_PUBLIC)
