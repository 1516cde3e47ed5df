"""Training the world model: loop, checkpoints (safetensors + config.json), DDP, evaluation."""

from wmgym.train.checkpoint import CheckpointError, load_model
from wmgym.train.evaluate import open_loop
from wmgym.train.trainer import TrainConfig, train

__all__ = ["CheckpointError", "TrainConfig", "load_model", "open_loop", "train"]
