"""`WorldModelConfig` and its named presets (plain functions, DreamerV3-style ``debug`` included)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class WorldModelConfig:
    """Sizes and loss weights of the recurrent state-space world model."""

    kind: str = "rssm"
    """Which world model a checkpoint holds (the ensemble's config says ``"ensemble"``); loaders dispatch on it."""
    image_size: tuple[int, int] = (64, 64)
    """(height, width) of frames; each a multiple of 16."""
    state_dim: int = 0
    """Length of the robot's state vector (the MuJoCo env's observation); set from the data."""
    action_dim: int = 0
    """Length of the action vector; set from the data."""
    cnn_depth: int = 32
    """Channels of the first conv layer; doubled at each of the 4 stride-2 layers."""
    deter: int = 256
    """Size of the deterministic (GRU) state."""
    stoch: int = 16
    """Number of categorical latent variables."""
    classes: int = 16
    """Classes per categorical variable."""
    hidden: int = 256
    """Width of the MLPs."""
    ensemble: int = 5
    """Transition (prior) heads; their disagreement is the model's uncertainty."""
    state_input: bool = True
    """Encode the state vector with the frame (the dream env then takes it as context too)."""
    unimix: float = 0.01
    """Uniform mixed into categorical probabilities, so no class has probability 0 (DreamerV3)."""
    free_nats: float = 1.0
    """KL below this many nats is not penalized."""
    kl_dyn: float = 0.5
    """Weight of the KL that trains the priors towards the posterior."""
    kl_rep: float = 0.1
    """Weight of the KL that keeps the posterior predictable."""
    image_weight: float = 1.0
    moving_pixel_weight: float = 10.0
    """Extra weight on pixels that differ from the static background: the robot and objects are
    a few percent of the frame, and unweighted they are the last thing a model learns."""
    state_weight: float = 1.0
    reward_weight: float = 1.0
    cont_weight: float = 1.0

    @property
    def latent_dim(self) -> int:
        """Size of the features heads read: deterministic plus flattened stochastic state."""
        return self.deter + self.stoch * self.classes

    def replace(self, **changes) -> WorldModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorldModelConfig:
        d = dict(d)
        d["image_size"] = tuple(d["image_size"])
        d.setdefault("kind", "rssm")  # configs saved before there were two kinds
        return cls(**d)


def debug(**changes) -> WorldModelConfig:
    """Tiny, for tests: trains a step in well under a second on a CPU."""
    return WorldModelConfig(cnn_depth=4, deter=32, stoch=4, classes=4, hidden=32, ensemble=2).replace(**changes)


def small(**changes) -> WorldModelConfig:
    """For 2 CPU cores: trains in well under an hour."""
    return WorldModelConfig(cnn_depth=16, deter=256, stoch=16, classes=16, hidden=256, ensemble=5).replace(**changes)


def base(**changes) -> WorldModelConfig:
    """For a GPU."""
    return WorldModelConfig(cnn_depth=48, deter=1024, stoch=32, classes=32, hidden=768, ensemble=5).replace(**changes)


PRESETS = {"debug": debug, "small": small, "base": base}


def preset(name: str, **changes) -> WorldModelConfig:
    """An RSSM preset by name: ``debug``, ``small`` or ``base``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name](**changes)
