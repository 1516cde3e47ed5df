"""The MuJoCo side: the rendered truth env with restorable physics state (task specs: `wmgym.tasks`)."""

from wmgym.truth.env import TruthEnv

__all__ = ["TruthEnv"]
