"""Training the world model: the loop, DDP, evaluation. Checkpoints are `wmgym.checkpoint`
(re-exported here: a trained model is loaded where it was trained)."""

from wmgym.checkpoint import CheckpointError, load_model
from wmgym.train.evaluate import open_loop
from wmgym.train.trainer import TrainConfig, train

__all__ = ["CheckpointError", "TrainConfig", "load_model", "open_loop", "train"]
