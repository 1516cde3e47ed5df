"""`EnsembleConfig` and its named presets (plain functions) for `wmgym.model.ensemble.EnsembleWorldModel`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

UNCERTAINTIES = ("particles",)
# Before 2026-12 the uncertainty was the members' disagreement about one step from a shared state
# ("step") or its running sum ("cumulative"); within a horizon it did not rank the error (Spearman
# -0.07 on reacher, docs/world_model.md) and the particle spread replaced both. Old configs load as it.
LEGACY_UNCERTAINTIES = ("step", "cumulative")


@dataclass(frozen=True)
class EnsembleConfig:
    """Sizes and loss weights of the ensemble state-space world model."""

    kind: str = "ensemble"
    """Which world model a checkpoint holds (the RSSM's config says ``"rssm"``); loaders dispatch on it."""
    image_size: tuple[int, int] = (64, 64)
    """(height, width) of frames; each a multiple of 16."""
    state_dim: int = 0
    """Length of the env's observation vector (what `state` returns); set from the data."""
    action_dim: int = 0
    """Length of the action vector; set from the data."""
    input_state: tuple[int, ...] | None = None
    """Indices of the observation vector the dynamics take as input; None: all of it (full state).
    A proprioception-only model lists the joint entries, e.g. Reacher-v5: (0, 1, 2, 3, 6, 7)."""
    learned_dim: int = 0
    """Size of the latent part z inferred from frames, for what the input state does not hold (the
    target's position, an object's pose); 0 for a full-state model (then frames are only rendered)."""
    members: int = 5
    """Dynamics MLPs; their disagreement is the model's uncertainty."""
    hidden: int = 256
    """Width of the MLPs (dynamics members and heads)."""
    layers: int = 2
    """Hidden layers of each dynamics member; 0 makes the dynamics linear."""
    horizon: int = 10
    """Steps of the open-loop loss: each member rolls its own prediction this far with the true actions."""
    discount: float = 1.0
    """Weight discount**(t-1) of the open-loop loss's step t; below 1 favours the first steps."""
    bootstrap: bool = False
    """Weight each member's rollouts by its own Poisson(1) draw per window (bagging), on top of the
    members' different initializations (which alone gave the measured diversity)."""
    uncertainty: str = "particles"
    """``"particles"``: each member rolls its own trajectory from `start` (PETS's particles); the
    uncertainty is their spread, which compounds along a rollout as the error does."""
    image_rows: int | None = 4
    """Rows of each training sequence the renderer is trained on per step (drawn at random; None: all).
    Frames cost ~20x a dynamics step on a CPU, and the renderer's error does not compound."""
    encoder_grad_rows: bool = True
    """Train the frame encoder only through the ``image_rows`` the renderer trains on; the other rows'
    z (the open-loop loss's inputs and stop-gradient targets) are encoded without a gradient. False:
    every row's z carries it (how models trained before 2026-12-02), a dearer step."""
    cnn_depth: int = 16
    """Channels of the frame encoder's first conv layer and the renderer's last; doubled per stride-2 layer."""
    moving_pixel_weight: float = 10.0
    """Extra weight on pixels that differ from the static background: the robot and objects are a few
    percent of the frame, and unweighted they are the last thing a renderer learns."""
    dynamics_weight: float = 1.0
    """Weight of the open-loop loss (squared error in normalized units, mean over members, steps, dims)."""
    image_weight: float = 1.0
    """Weight of the renderer's loss (weighted squared error per pixel and channel, frames in [0, 1])."""
    state_weight: float = 1.0
    """Weight of the head predicting the observation entries outside ``input_state`` (normalized)."""
    reward_weight: float = 1.0
    """Weight of the reward head's loss (squared error in symlog units)."""
    cont_weight: float = 1.0
    """Weight of the continue head's binary cross-entropy."""

    def __post_init__(self):
        if self.kind != "ensemble":
            raise ValueError(f"EnsembleConfig.kind must be 'ensemble', got {self.kind!r}")
        if self.uncertainty not in UNCERTAINTIES:
            raise ValueError(f"uncertainty must be one of {UNCERTAINTIES}, got {self.uncertainty!r}")
        if self.image_rows is not None and self.image_rows < 1:
            raise ValueError(f"image_rows must be None or at least 1, got {self.image_rows}")
        if self.members < 1 or self.horizon < 1 or self.layers < 0 or self.learned_dim < 0:
            raise ValueError("members and horizon must be positive, layers and learned_dim not negative")
        if self.input_state is not None:
            idx = self.input_state
            if len(set(idx)) != len(idx) or min(idx, default=0) < 0:
                raise ValueError(f"input_state must hold distinct indices >= 0, got {idx}")
            if self.state_dim and max(idx, default=0) >= self.state_dim:
                raise ValueError(f"input_state {idx} reaches past state_dim {self.state_dim}")

    @property
    def input_dim(self) -> int:
        """Observation entries the dynamics take as input."""
        return self.state_dim if self.input_state is None else len(self.input_state)

    @property
    def latent_dim(self) -> int:
        """Size of the latent state (what ``obs_mode="latent"`` returns): input state plus z."""
        return self.input_dim + self.learned_dim

    def replace(self, **changes) -> EnsembleConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EnsembleConfig:
        d = dict(d)
        d["image_size"] = tuple(d["image_size"])
        if d.get("input_state") is not None:
            d["input_state"] = tuple(d["input_state"])
        if d.get("uncertainty") in LEGACY_UNCERTAINTIES:
            d["uncertainty"] = "particles"
        return cls(**d)


def ensemble_debug(**changes) -> EnsembleConfig:
    """Tiny, for tests: trains a step in well under a second on a CPU."""
    return EnsembleConfig(members=2, hidden=32, layers=2, horizon=4, cnn_depth=4).replace(**changes)


def ensemble_small(**changes) -> EnsembleConfig:
    """For 2 CPU cores (the measured recipe: 5 members 2x256, a 10-step loss)."""
    return EnsembleConfig(members=5, hidden=256, layers=2, horizon=10, cnn_depth=16).replace(**changes)


def ensemble_base(**changes) -> EnsembleConfig:
    """For a GPU."""
    return EnsembleConfig(members=5, hidden=512, layers=3, horizon=10, cnn_depth=48).replace(**changes)


def proprio(cfg: EnsembleConfig, input_state: tuple[int, ...], learned_dim: int = 8) -> EnsembleConfig:
    """``cfg`` as a proprioception-only model: dynamics on ``input_state``, the rest inferred from frames."""
    return cfg.replace(input_state=tuple(input_state), learned_dim=learned_dim)


ENSEMBLE_PRESETS = {"debug": ensemble_debug, "small": ensemble_small, "base": ensemble_base}


def ensemble_preset(name: str, **changes) -> EnsembleConfig:
    """A preset by name: ``debug``, ``small`` or ``base``."""
    if name not in ENSEMBLE_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(ENSEMBLE_PRESETS)}")
    return ENSEMBLE_PRESETS[name](**changes)
