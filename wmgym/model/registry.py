"""Every world model wmgym knows, by kind and by preset name: what checkpoints and the trainer build.

Two kinds share one interface (see `wmgym.model.world_model` and `wmgym.model.ensemble`):
``"rssm"``, the recurrent state-space model trained one step at a time, and ``"ensemble"``, an
ensemble of MLPs over the robot's state trained on its own open-loop rollouts, with a renderer.
Presets are named ``<kind>-<size>`` (``ensemble-small``); the RSSM's keep their old bare names
(``small``) so runs started before there were two kinds resume.
"""

from __future__ import annotations

from torch import nn

from wmgym.model.config import PRESETS as RSSM_PRESETS
from wmgym.model.config import WorldModelConfig
from wmgym.model.ensemble import EnsembleWorldModel
from wmgym.model.ensemble_config import ENSEMBLE_PRESETS, EnsembleConfig
from wmgym.model.world_model import WorldModel

KINDS = {"rssm": (WorldModelConfig, WorldModel), "ensemble": (EnsembleConfig, EnsembleWorldModel)}
PRESETS = {
    **{name: ("rssm", f) for name, f in RSSM_PRESETS.items()},
    **{f"rssm-{name}": ("rssm", f) for name, f in RSSM_PRESETS.items()},
    **{f"ensemble-{name}": ("ensemble", f) for name, f in ENSEMBLE_PRESETS.items()},
}


def preset_config(name: str, **changes) -> WorldModelConfig | EnsembleConfig:
    """The config of a preset by name (``ensemble-small``, ``small``, ...), with ``changes`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name][1](**changes)


def config_from_dict(d: dict) -> WorldModelConfig | EnsembleConfig:
    """A saved config (``config.json``'s ``model``) back to its dataclass, by its ``kind``."""
    kind = d.get("kind", "rssm")
    if kind not in KINDS:
        raise ValueError(f"unknown world model kind {kind!r}; this wmgym knows {', '.join(KINDS)}")
    return KINDS[kind][0].from_dict(d)


def build(cfg: WorldModelConfig | EnsembleConfig) -> nn.Module:
    """A fresh model of ``cfg``'s kind."""
    return KINDS[cfg.kind][1](cfg)
