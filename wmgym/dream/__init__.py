"""The dream side: learned world models as gymnasium envs (nothing here imports MuJoCo).

The SB3 adapter loads stable-baselines3; import it from `wmgym.dream.sb3` (or `wmgym.sb3_vec_env`).
"""

from wmgym.dream.env import DreamEnv
from wmgym.dream.loading import load_dream
from wmgym.dream.vector_env import DreamVectorEnv
from wmgym.model.context import ContextBank

__all__ = ["ContextBank", "DreamEnv", "DreamVectorEnv", "load_dream"]
