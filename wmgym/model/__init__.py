"""The world model: torch ``nn.Module``s only (nothing here knows gymnasium or MuJoCo)."""

from wmgym.model.config import PRESETS, WorldModelConfig, base, debug, preset, small
from wmgym.model.rssm import Latent
from wmgym.model.world_model import WorldModel

__all__ = ["PRESETS", "Latent", "WorldModel", "WorldModelConfig", "base", "debug", "preset", "small"]
