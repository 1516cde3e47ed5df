"""`TaskSpec`: everything the truth (MuJoCo) side and the dream (learned) side must agree on.

A spec is a frozen dataclass that round-trips through JSON (`to_dict` / `from_dict`), so a
dataset and a checkpoint can store the exact spec they were made with and refuse a mismatch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wmgym.errors import NoTruthError


@dataclass(frozen=True)
class CameraSpec:
    """Where the camera looks from. A free MuJoCo camera, so no model XML has to change."""

    mode: str = "fixed"
    """``"fixed"`` (static in the world) or ``"tracking"`` (follows ``track_body``)."""
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Point the camera looks at, in world coordinates (for tracking: the initial point)."""
    distance: float = 1.0
    """Distance from ``lookat`` in metres."""
    azimuth: float = 90.0
    """Horizontal angle in degrees."""
    elevation: float = -90.0
    """Vertical angle in degrees; -90 looks straight down."""
    track_body: str | None = None
    """Body the camera follows when ``mode == "tracking"``."""

    def __post_init__(self):
        if self.mode not in ("fixed", "tracking"):
            raise ValueError(f"CameraSpec.mode must be 'fixed' or 'tracking', got {self.mode!r}")
        if self.mode == "tracking" and not self.track_body:
            raise ValueError("CameraSpec(mode='tracking') needs track_body, the body to follow")


@dataclass(frozen=True)
class RenderSpec:
    """How frames are rendered. Chosen for speed on a software (Mesa llvmpipe) renderer."""

    shadows: bool = False
    """Shadows cost ~7x on llvmpipe and tell a 64x64 world model little."""
    reflections: bool = False
    """Floor reflections: same cost, and they double the robot in the image."""
    visual_geom_radius: tuple[tuple[str, float], ...] = ()
    """(geom name, radius) pairs enlarged for rendering only. Only geoms that can collide with
    nothing are allowed (checked when the env is built), and mass and inertia are fixed when the
    model is compiled, so physics is unchanged (a test checks trajectories bit for bit)."""


@dataclass(frozen=True)
class StateComponent:
    """A named slice of the state vector, reported separately by calibration (e.g. joint velocities)."""

    name: str
    start: int
    stop: int
    unit: str = ""


@dataclass(frozen=True)
class Tolerance:
    """One criterion of a model's trust horizon: how large an error still counts as right, and why.

    ``kind="state"``: the error is the Euclidean norm of the prediction error over the state
    entries ``indices`` (e.g. a fingertip's x, y); its median over rollouts must stay <= threshold.
    ``kind="pixels"``: the PSNR over the robot and object pixels (geoms of moving bodies); its median
    must stay >= threshold (dB) and above both baselines (last frame repeated, static background).
    """

    name: str
    kind: str
    threshold: float
    unit: str
    reason: str
    indices: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in ("state", "pixels"):
            raise ValueError(f"Tolerance.kind must be 'state' or 'pixels', got {self.kind!r}")
        if self.kind == "state" and not self.indices:
            raise ValueError(f"state tolerance {self.name!r} needs the state indices it covers")


@dataclass(frozen=True)
class TrustSpec:
    """How calibration reads a task's state, and the tolerances that define its trust horizon."""

    components: tuple[StateComponent, ...] = ()
    tolerances: tuple[Tolerance, ...] = ()

    @classmethod
    def from_dict(cls, d: dict | None) -> TrustSpec:
        d = d or {}
        return cls(
            components=tuple(StateComponent(**c) for c in d.get("components", ())),
            tolerances=tuple(
                Tolerance(**{**t, "indices": tuple(t.get("indices", ()))}) for t in d.get("tolerances", ())
            ),
        )


@dataclass(frozen=True)
class Termination:
    """A task's termination rule on its observation vector: the one definition wmgym uses wherever it
    has to decide termination itself (batched truth, calibration), checked against gymnasium's own
    env in tests.

    An episode ends when an entry is not finite, or when ``obs[i]`` leaves ``(low, high)`` for any
    ``(i, low, high)`` of ``healthy`` (the open interval if ``strict``, else the closed one).
    """

    healthy: tuple[tuple[int, float, float], ...]
    """(observation index, low, high): the ranges an episode stays alive in."""
    strict: bool = False
    """Open intervals (Hopper's ``min < x < max``) rather than closed ones (InvertedPendulum's ``|x| <= 0.2``)."""

    def terminated(self, obs: np.ndarray) -> np.ndarray:
        """Whether each observation ``(..., S)`` ends its episode; bool of shape ``(...)``."""
        obs = np.asarray(obs)
        dead = ~np.isfinite(obs).all(-1)
        for i, low, high in self.healthy:
            x = obs[..., i]
            dead |= ~((low < x) & (x < high)) if self.strict else ~((low <= x) & (x <= high))
        return dead

    @classmethod
    def from_dict(cls, d: dict | None) -> Termination | None:
        if not d:
            return None
        return cls(healthy=tuple(tuple(h) for h in d["healthy"]), strict=d.get("strict", False))


@dataclass(frozen=True)
class Reference:
    """The returns that define a task's normalized score: a random policy scores 0, a strong policy
    trained in MuJoCo scores 1. Normalized = (R - random) / (expert - random)."""

    random: float
    """Mean return of uniform random actions."""
    expert: float
    """Mean return of the strong MuJoCo-trained reference policy."""
    how: str
    """How both were measured (policy, training budget, command, episodes), so anyone can redo it."""

    def normalize(self, ret: float) -> float:
        return (ret - self.random) / (self.expert - self.random)


@dataclass(frozen=True)
class TaskSpec:
    """A task of the suite: which MuJoCo env, how it is seen, and how long it runs."""

    name: str
    """Short name users type: ``reacher``, ``pusher``, ..."""
    gym_id: str | None
    """Gymnasium id of the wrapped MuJoCo env, e.g. ``Reacher-v5``; None for a task of a team's own
    recorded data (`wmgym.data.own`), which has no MuJoCo env: train and dream work, collection and
    calibration against MuJoCo do not (`require_truth`)."""
    camera: CameraSpec
    """The camera every frame is rendered from."""
    render: RenderSpec = field(default_factory=RenderSpec)
    """Renderer settings shared by truth and dream."""
    image_size: tuple[int, int] = (64, 64)
    """(height, width) of ``pixels`` observations."""
    action_repeat: int = 1
    """MuJoCo env steps per agent step. 1 keeps a policy trained here valid on ``gym_id`` as is."""
    episode_length: int = 50
    """Agent steps before truncation (``truncated=True``)."""
    obs_keys: tuple[str, ...] = ("pixels", "state")
    """Observation keys this task provides."""
    terminates: bool = False
    """Whether the MuJoCo env can end an episode early (``terminated=True``), e.g. a fall."""
    proprio: tuple[int, ...] | None = field(default=None, compare=False)
    """Indices of the observation vector the robot's own sensors give (joint angles and velocities):
    what a proprioception-only world model takes as input (the rest, e.g. a target, it infers from
    frames). None: the whole observation is proprioception. Not compared, like ``termination``."""
    termination: Termination | None = field(default=None, compare=False)
    reference: Reference | None = field(default=None, compare=False)
    """Random and expert returns for normalized scores (None: not measured yet). Not compared."""
    """The rule that ends an episode early (tasks that terminate). Not compared: specs stored before it
    existed still match their task."""
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    """Keyword arguments for ``gymnasium.make(gym_id, ...)``, as (name, value) pairs."""
    notes: str = ""
    """Why the camera and renderer settings are what they are."""
    trust: TrustSpec = field(default_factory=TrustSpec, compare=False)
    """State components and error tolerances for calibration. Not compared: a checkpoint trained
    before a tolerance was revised still matches its task."""
    fps: float | None = field(default=None, compare=False)
    """Frames per second of recorded data (own data); None for MuJoCo tasks, whose env sets its own
    step time. Used for videos only. Not compared."""

    def __post_init__(self):
        h, w = self.image_size
        if h < 8 or w < 8:
            raise ValueError(f"TaskSpec.image_size must be at least 8x8, got {self.image_size}")
        if self.action_repeat < 1:
            raise ValueError(f"TaskSpec.action_repeat must be >= 1, got {self.action_repeat}")
        if self.episode_length < 1:
            raise ValueError(f"TaskSpec.episode_length must be >= 1, got {self.episode_length}")

    @property
    def has_truth(self) -> bool:
        """Whether a MuJoCo env stands behind this task (False for a team's own recorded data)."""
        return self.gym_id is not None

    def require_truth(self, what: str) -> None:
        """Raise `NoTruthError` if this task has no MuJoCo env; ``what`` says what cannot be done (e.g.
        "cannot calibrate M against MuJoCo") and starts the message."""
        if not self.has_truth:
            raise NoTruthError(
                f"{what}: task {self.name!r} has no MuJoCo env (TaskSpec.gym_id is None), since it was made from "
                "recorded data. Its world model trains and dreams, and measures itself on held-out recorded "
                "episodes instead (the checkpoint's config.json metrics; wmgym.train.open_loop): see docs/own_data.md"
            )

    def terminated(self, obs: np.ndarray) -> np.ndarray:
        """The task's termination rule on observations ``(..., S)`` (all False for tasks that never end)."""
        if not self.terminates:
            return np.zeros(np.shape(obs)[:-1], bool)
        if self.termination is None:
            raise ValueError(
                f"task {self.name!r} terminates but its spec states no rule; use the registered spec "
                f"(wmgym.tasks.get_task({self.name!r})) or give TaskSpec(termination=Termination(...))"
            )
        return self.termination.terminated(obs)

    def replace(self, **changes) -> TaskSpec:
        """A copy with some fields changed, e.g. ``spec.replace(image_size=(96, 96))``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self, trust: bool = False) -> dict:
        """A JSON-ready dict; `from_dict` reads it back to an equal spec.

        The calibration tolerances (``trust``) are left out unless asked for: datasets and
        checkpoints store what the data depends on, and tolerances may be revised without
        invalidating them (calibration reads them from the registered task)."""
        d = dataclasses.asdict(self)
        if not trust:
            d.pop("trust")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        """Inverse of `to_dict` (JSON turns tuples into lists; this turns them back)."""
        d = dict(d)
        cam = dict(d.pop("camera"))
        cam["lookat"] = tuple(cam["lookat"])
        rnd = dict(d.pop("render", {}))
        rnd["visual_geom_radius"] = tuple(tuple(p) for p in rnd.get("visual_geom_radius", ()))
        d["image_size"] = tuple(d["image_size"])
        d["obs_keys"] = tuple(d["obs_keys"])
        d["env_kwargs"] = tuple(tuple(p) for p in d.get("env_kwargs", ()))
        d["trust"] = TrustSpec.from_dict(d.get("trust"))
        d["termination"] = Termination.from_dict(d.get("termination"))
        d["reference"] = Reference(**d["reference"]) if d.get("reference") else None
        if d.get("proprio") is not None:
            d["proprio"] = tuple(d["proprio"])
        return cls(camera=CameraSpec(**cam), render=RenderSpec(**rnd), **d)
