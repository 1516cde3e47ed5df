"""Training the world model: the loop, DDP, evaluation, the run folder. Checkpoints are
`wmgym.checkpoint` (re-exported here: a trained model is loaded where it was trained)."""

from wmgym.checkpoint import load_model
from wmgym.errors import CheckpointError, RunFolderError, TrainingDivergedError
from wmgym.train.config import TrainConfig
from wmgym.train.evaluate import open_loop
from wmgym.train.trainer import train

__all__ = [
    "CheckpointError",
    "RunFolderError",
    "TrainConfig",
    "TrainingDivergedError",
    "load_model",
    "open_loop",
    "train",
]
