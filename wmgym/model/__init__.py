"""World models: torch ``nn.Module``s and the real context they start from (no gymnasium, no MuJoCo).

Two kinds with one interface, built by preset name or from a saved config (`wmgym.model.registry`).
"""

from wmgym.model.config import WorldModelConfig
from wmgym.model.context import ContextBank
from wmgym.model.ensemble import EnsembleWorldModel, StateLatent
from wmgym.model.ensemble_config import EnsembleConfig
from wmgym.model.registry import PRESETS, build, config_from_dict, preset_config
from wmgym.model.rssm import Latent
from wmgym.model.world_model import WorldModel

__all__ = [
    "PRESETS",
    "ContextBank",
    "EnsembleConfig",
    "EnsembleWorldModel",
    "Latent",
    "StateLatent",
    "WorldModel",
    "WorldModelConfig",
    "build",
    "config_from_dict",
    "preset_config",
]
