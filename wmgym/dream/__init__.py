"""The dream side: learned world models as gymnasium envs (nothing here imports MuJoCo)."""

from wmgym.dream.context import ContextBank
from wmgym.dream.env import DreamEnv
from wmgym.dream.loading import load_dream, zoo_models
from wmgym.dream.sb3 import Sb3VecEnv, sb3_vec_env
from wmgym.dream.vector_env import DreamVectorEnv

__all__ = ["ContextBank", "DreamEnv", "DreamVectorEnv", "Sb3VecEnv", "load_dream", "sb3_vec_env", "zoo_models"]
