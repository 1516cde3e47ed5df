"""The world model: torch ``nn.Module``s and the real context they start from (no gymnasium, no MuJoCo)."""

from wmgym.model.config import PRESETS, WorldModelConfig, base, debug, preset, small
from wmgym.model.context import ContextBank
from wmgym.model.rssm import Latent
from wmgym.model.world_model import WorldModel

__all__ = ["PRESETS", "ContextBank", "Latent", "WorldModel", "WorldModelConfig", "base", "debug", "preset", "small"]
