"""Collecting truth episodes into Minari datasets, importing recorded ones (LeRobot, Minari, your
own arrays: `wmgym.data.own`), and sampling training windows from them.

Names load on first use: training reads datasets (`sampler`, `store`) without loading MuJoCo,
which only collection (`collect`) needs.
"""

from wmgym._lazy import lazy_names

_PUBLIC = {
    "CollectResult": "wmgym.data.collection",
    "collect": "wmgym.data.collection",
    "episode_seed": "wmgym.data.collection",
    "SequenceSampler": "wmgym.data.sampler",
    "episode_rows": "wmgym.data.sampler",
    "split_episodes": "wmgym.data.sampler",
    "DatasetExistsError": "wmgym.data.store",
    "EpisodeArrays": "wmgym.data.store",
    "dataset_perturbation": "wmgym.data.store",
    "fingerprint": "wmgym.data.store",
    "load_episodes": "wmgym.data.store",
    "import_lerobot": "wmgym.data.lerobot",
    "import_minari": "wmgym.data.from_minari",
    "own_task": "wmgym.data.own",
    "recorded_episode": "wmgym.data.own",
    "write_dataset": "wmgym.data.own",
}


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

__all__ = sorted(_PUBLIC)
