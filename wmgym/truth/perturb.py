"""`Perturbation`: a "real robot" that differs from the simulator, as a frozen, JSON-ready spec.

A perturbation changes what MuJoCo simulates (physics), when actions and observations arrive
(timing) and what the sensors report (sensing), in the conventions of DeepMind's realworldrl_suite
(``perturb_spec``, ``delay_spec``, ``noise_spec``; combined levels ``easy`` / ``medium`` / ``hard``)
and of the domain randomization of robosuite and MuJoCo Playground (per-quantity scale and offset,
a fixed value or a range drawn per episode):

- physics (`PhysicsChange`): body mass (with its inertia), link length, joint damping, joint (dry)
  friction, rotor inertia (armature), contact friction, actuator gain and bias;
  ``new = nominal * scale + offset``;
- timing (`DelaySpec`): actions applied k steps late, observations k steps old;
- sensing (`NoiseSpec`, `VisualSpec`): gaussian noise, a constant offset, dropped and stuck values
  on the observation vector; camera pose and lighting for pixels.

Every number is a fixed value or a ``(low, high)`` range; ranges are drawn once per episode from
the env's seeded generator (`Perturbation.sample`), so a perturbed env stays seeded-deterministic.
This module is plain data (numpy only): applying a spec to a MuJoCo model and an env loop is
`wmgym.truth.perturbed`; the named variants of each task are `wmgym.truth.variants`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Value = float | tuple[float, float]
"""A fixed number, or a ``(low, high)`` range drawn uniformly once per episode."""

QUANTITIES = {
    "body_mass": ("body", "mass and rotational inertia of each named body, scaled together (same shape, denser)"),
    "link_length": ("body", "a link's length: its geoms, centre of mass and the bodies it carries move out"),
    "joint_damping": ("joint", "viscous damping of each named joint (N m s / rad)"),
    "joint_friction": ("joint", "dry (Coulomb) friction of each named joint, MuJoCo's frictionloss"),
    "joint_armature": ("joint", "rotor inertia reflected through each named joint's gearbox (kg m^2)"),
    "contact_friction": ("body", "sliding friction coefficient of every geom of each named body"),
    "actuator_gain": ("actuator", "force per unit of control of the motor driving each named joint"),
    "actuator_bias": ("actuator", "a constant force on each named joint's motor, in units of its control"),
}
"""What a `PhysicsChange` may change: (what its ``names`` name, what it models). Actuators are named by
the joint they drive (the task models leave motors unnamed)."""

_SCALE_ONLY = ("link_length",)
_OFFSET_ONLY = ("actuator_bias",)
_POSITIVE = ("body_mass", "link_length")


def _is_range(v) -> bool:
    return isinstance(v, (tuple, list))


def _bounds(v: Value) -> tuple[float, float]:
    return (float(v[0]), float(v[1])) if _is_range(v) else (float(v), float(v))


def _as_value(v, what: str) -> Value:
    """``v`` as a float or a (low, high) tuple of floats; raises on anything else."""
    if _is_range(v):
        if len(v) != 2 or any(_is_range(x) for x in v):
            raise ValueError(f"{what} must be a number or a (low, high) pair, got {v!r}")
        low, high = (_as_value(x, what) for x in v)
        if low > high:
            raise ValueError(f"{what}: the range's low {low} is above its high {high}")
        return (low, high)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number or a (low, high) pair, got {v!r}")
    return float(v)


def _draw(v: Value, rng: np.random.Generator, integer: bool = False):
    if not _is_range(v):
        return int(v) if integer else v
    low, high = v
    return int(rng.integers(int(low), int(high) + 1)) if integer else float(rng.uniform(low, high))


@dataclass(frozen=True)
class PhysicsChange:
    """One change to the MuJoCo model: ``new = nominal * scale + offset`` for each named element.

    Raises:
        ValueError: an unknown quantity, or a value the quantity cannot take (a mass scale <= 0, ...).
    """

    quantity: str
    """One of `QUANTITIES`."""
    names: tuple[str, ...] = ()
    """Bodies, joints or (by their joint) actuators it applies to; empty: every one of that kind."""
    scale: Value = 1.0
    """Factor on the nominal value (or a (low, high) range drawn per episode)."""
    offset: Value = 0.0
    """Added after scaling, in the quantity's units (actuator bias: units of control)."""

    def __post_init__(self):
        if self.quantity not in QUANTITIES:
            raise ValueError(f"unknown physics quantity {self.quantity!r}; known: {', '.join(QUANTITIES)}")
        if isinstance(self.names, str):
            object.__setattr__(self, "names", (self.names,))
        object.__setattr__(self, "names", tuple(self.names))
        scale = _as_value(self.scale, f"{self.quantity} scale")
        offset = _as_value(self.offset, f"{self.quantity} offset")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "offset", offset)
        low, _ = _bounds(scale)
        if self.quantity in _POSITIVE and low <= 0:
            raise ValueError(f"{self.quantity} scale must be positive, got {scale}")
        if low < 0:
            raise ValueError(f"{self.quantity} scale must not be negative, got {scale}")
        if self.quantity in _SCALE_ONLY and _bounds(offset) != (0.0, 0.0):
            raise ValueError(f"{self.quantity} takes a scale only, got offset {offset}")
        if self.quantity in _OFFSET_ONLY and _bounds(scale) != (1.0, 1.0):
            raise ValueError(f"{self.quantity} takes an offset only (its nominal value is 0), got scale {scale}")

    @property
    def kind(self) -> str:
        """What ``names`` name: ``body``, ``joint`` or ``actuator``."""
        return QUANTITIES[self.quantity][0]

    @property
    def is_identity(self) -> bool:
        return _bounds(self.scale) == (1.0, 1.0) and _bounds(self.offset) == (0.0, 0.0)

    @property
    def is_random(self) -> bool:
        return _is_range(self.scale) or _is_range(self.offset)

    def sample(self, rng: np.random.Generator) -> PhysicsChange:
        return dataclasses.replace(self, scale=_draw(self.scale, rng), offset=_draw(self.offset, rng))


@dataclass(frozen=True)
class DelaySpec:
    """realworldrl_suite's ``delay_spec``: steps between an action and its effect, and the age of an
    observation. The first ``actions`` steps of an episode apply the action-space centre (zero force
    for the tasks' symmetric boxes): no command has reached the motors yet."""

    actions: Value = 0
    """Agent steps before an action reaches the motors (a range: whole steps, drawn per episode)."""
    observations: Value = 0
    """Agent steps an observation (state and pixels) is old when it arrives."""

    def __post_init__(self):
        for name in ("actions", "observations"):
            v = _as_value(getattr(self, name), f"delay {name}")
            low, high = _bounds(v)
            if low < 0 or low != int(low) or high != int(high):
                raise ValueError(f"delay {name} must be whole steps >= 0, got {v}")
            object.__setattr__(self, name, (int(low), int(high)) if _is_range(v) else int(v))

    @property
    def is_off(self) -> bool:
        return _bounds(self.actions) == (0, 0) and _bounds(self.observations) == (0, 0)

    @property
    def is_random(self) -> bool:
        return _is_range(self.actions) or _is_range(self.observations)

    def sample(self, rng: np.random.Generator) -> DelaySpec:
        return DelaySpec(_draw(self.actions, rng, integer=True), _draw(self.observations, rng, integer=True))


@dataclass(frozen=True)
class NoiseSpec:
    """realworldrl_suite's ``noise_spec`` on the ``state`` observation (and gaussian action noise).

    On each observation, in this order: the constant ``offset`` (a miscalibrated sensor), gaussian
    noise, dropped values (read as 0 for ``dropped_steps`` steps once dropped) and stuck values (the
    previous reading repeated for ``stuck_steps`` steps), all on the entries ``indices``."""

    observations: Value = 0.0
    """Std of white gaussian noise on each observed entry, in its own units."""
    offset: Value = 0.0
    """Constant added to each observed entry (a range: drawn per episode, the same for all entries)."""
    dropped_prob: float = 0.0
    """Per step and entry, the chance that the entry starts reading 0."""
    dropped_steps: int = 1
    """Steps a dropped entry keeps reading 0."""
    stuck_prob: float = 0.0
    """Per step and entry, the chance that the entry freezes at its previous reading."""
    stuck_steps: int = 1
    """Steps a stuck entry keeps its previous reading."""
    actions: Value = 0.0
    """Std of white gaussian noise added to each action before it is clipped to the action box."""
    indices: tuple[int, ...] | None = None
    """Observation entries the sensing noise applies to; None: all of them."""

    def __post_init__(self):
        for name in ("observations", "offset", "actions"):
            v = _as_value(getattr(self, name), f"noise {name}")
            if name != "offset" and _bounds(v)[0] < 0:
                raise ValueError(f"noise {name} is a standard deviation and must not be negative, got {v}")
            object.__setattr__(self, name, v)
        for name in ("dropped_prob", "stuck_prob"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"noise {name} must be a probability in [0, 1], got {p!r}")
        for name in ("dropped_steps", "stuck_steps"):
            if (
                isinstance(getattr(self, name), bool)
                or not isinstance(getattr(self, name), int)
                or getattr(self, name) < 1
            ):
                raise ValueError(f"noise {name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if self.indices is not None:
            idx = tuple(int(i) for i in self.indices)
            if not idx or min(idx) < 0 or len(set(idx)) != len(idx):
                raise ValueError(f"noise indices must be distinct entries >= 0, got {self.indices!r}")
            object.__setattr__(self, "indices", idx)

    @property
    def is_off(self) -> bool:
        zero = all(_bounds(getattr(self, n)) == (0.0, 0.0) for n in ("observations", "offset", "actions"))
        return zero and self.dropped_prob == 0 and self.stuck_prob == 0

    @property
    def is_random(self) -> bool:
        return any(_is_range(getattr(self, n)) for n in ("observations", "offset", "actions"))

    def sample(self, rng: np.random.Generator) -> NoiseSpec:
        drawn = {n: _draw(getattr(self, n), rng) for n in ("observations", "offset", "actions")}
        return dataclasses.replace(self, **drawn)


@dataclass(frozen=True)
class VisualSpec:
    """What the camera sees, for pixel observations: its pose (offsets to the task's camera) and the
    brightness of the lights. The physics and the ``state`` observation are unaffected."""

    azimuth: Value = 0.0
    """Degrees added to the camera's azimuth."""
    elevation: Value = 0.0
    """Degrees added to the camera's elevation."""
    distance: Value = 0.0
    """Metres added to the camera's distance from its look-at point."""
    lookat: tuple[Value, Value, Value] = (0.0, 0.0, 0.0)
    """Metres added to the look-at point (x, y, z)."""
    light: Value = 1.0
    """Factor on the diffuse and ambient light of the headlight and of every light of the model."""

    def __post_init__(self):
        for name in ("azimuth", "elevation", "distance", "light"):
            object.__setattr__(self, name, _as_value(getattr(self, name), f"visual {name}"))
        if len(self.lookat) != 3:
            raise ValueError(f"visual lookat must be three offsets (x, y, z), got {self.lookat!r}")
        object.__setattr__(self, "lookat", tuple(_as_value(v, "visual lookat") for v in self.lookat))
        if _bounds(self.light)[0] < 0:
            raise ValueError(f"visual light is a factor and must not be negative, got {self.light}")

    def _values(self) -> list:
        return [self.azimuth, self.elevation, self.distance, *self.lookat]

    @property
    def is_off(self) -> bool:
        return all(_bounds(v) == (0.0, 0.0) for v in self._values()) and _bounds(self.light) == (1.0, 1.0)

    @property
    def is_random(self) -> bool:
        return any(_is_range(v) for v in [*self._values(), self.light])

    def sample(self, rng: np.random.Generator) -> VisualSpec:
        az, el, dist, *look = (_draw(v, rng) for v in self._values())
        return VisualSpec(az, el, dist, tuple(look), _draw(self.light, rng))


@dataclass(frozen=True)
class Perturbation:
    """A "real robot": physics, timing and sensing changes from the nominal simulator.

    ``Perturbation()`` changes nothing: an env built with it is the nominal env, bit for bit.

    Example:
        >>> p = Perturbation("heavy-forearm", physics=(PhysicsChange("body_mass", ("body1",), scale=4.0),))
        >>> Perturbation.from_dict(json.loads(json.dumps(p.to_dict()))) == p
        True
    """

    name: str = "custom"
    """Short name, e.g. ``heavy-forearm``; named variants are listed by ``wmgym perturbations``."""
    description: str = ""
    """What it models on a real robot, and why it matters."""
    physics: tuple[PhysicsChange, ...] = ()
    """realworldrl_suite's ``perturb_spec``: changes to the MuJoCo model, applied in order."""
    delay: DelaySpec = field(default_factory=DelaySpec)
    """realworldrl_suite's ``delay_spec``."""
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    """realworldrl_suite's ``noise_spec``."""
    visual: VisualSpec = field(default_factory=VisualSpec)
    """Camera pose and lighting (pixels only)."""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a perturbation needs a name, got {self.name!r}")
        object.__setattr__(self, "physics", tuple(self.physics))

    @property
    def is_off(self) -> bool:
        """Whether it changes nothing (an env built with it is the nominal env)."""
        physics_off = all(c.is_identity for c in self.physics)
        return physics_off and self.delay.is_off and self.noise.is_off and self.visual.is_off

    @property
    def is_random(self) -> bool:
        """Whether any value is a range, drawn anew each episode."""
        parts = (self.delay, self.noise, self.visual)
        return any(c.is_random for c in self.physics) or any(p.is_random for p in parts)

    @property
    def physics_only(self) -> bool:
        """Whether it changes only the MuJoCo model, with fixed values: what batched rollouts
        (`wmgym.physics.BatchedTruth`) can simulate."""
        return not self.is_random and self.delay.is_off and self.noise.is_off

    def sample(self, rng: np.random.Generator) -> Perturbation:
        """This perturbation with every range replaced by a value drawn from ``rng`` (in a fixed order:
        physics changes, delays, noise, visual), i.e. one episode's robot."""
        return dataclasses.replace(
            self,
            physics=tuple(c.sample(rng) for c in self.physics),
            delay=self.delay.sample(rng),
            noise=self.noise.sample(rng),
            visual=self.visual.sample(rng),
        )

    def to_dict(self) -> dict:
        """JSON-ready, in realworldrl_suite's layout: ``perturb_spec``, ``delay_spec``, ``noise_spec``."""
        return {
            "name": self.name,
            "description": self.description,
            "perturb_spec": {"enable": bool(self.physics), "changes": [dataclasses.asdict(c) for c in self.physics]},
            "delay_spec": {"enable": not self.delay.is_off, **dataclasses.asdict(self.delay)},
            "noise_spec": {"enable": not self.noise.is_off, **dataclasses.asdict(self.noise)},
            "visual_spec": {"enable": not self.visual.is_off, **dataclasses.asdict(self.visual)},
        }

    @classmethod
    def from_dict(cls, d: dict) -> Perturbation:
        """Inverse of `to_dict`; a spec whose ``enable`` is false is left out (realworldrl_suite's rule).

        Raises:
            ValueError: an unknown key, or a value out of range (the message names it).
        """
        d = dict(d)
        known = {"name", "description", "perturb_spec", "delay_spec", "noise_spec", "visual_spec"}
        if set(d) - known:
            raise ValueError(f"unknown perturbation keys {sorted(set(d) - known)}; expected some of {sorted(known)}")
        physics = _enabled(d.get("perturb_spec"))
        return cls(
            name=d.get("name", "custom"),
            description=d.get("description", ""),
            physics=tuple(PhysicsChange(**_tuples(c)) for c in (physics or {}).get("changes", ())),
            delay=DelaySpec(**_tuples(_enabled(d.get("delay_spec")) or {})),
            noise=NoiseSpec(**_tuples(_enabled(d.get("noise_spec")) or {})),
            visual=VisualSpec(**_tuples(_enabled(d.get("visual_spec")) or {})),
        )


def _enabled(spec: dict | None) -> dict | None:
    if not spec:
        return None
    spec = dict(spec)
    return spec if spec.pop("enable", True) else None


def _tuples(d: dict) -> dict:
    """JSON lists back to tuples (ranges, names, indices, look-at offsets)."""
    out = {}
    for k, v in d.items():
        out[k] = tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
    return out


def load(value, task: str | None = None) -> Perturbation | None:
    """A `Perturbation` from what a user may pass: None, a spec, a dict (`Perturbation.to_dict`), the
    path of a JSON file holding one, or the name of a variant of ``task`` (`wmgym.truth.variants`).
    Returns None for no perturbation or one that is off (then the env is the nominal one).

    Raises:
        KeyError: an unknown variant name (the message lists the task's variants).
        ValueError: a bad spec.
    """
    if value is None:
        return None
    if isinstance(value, Perturbation):
        spec = value
    elif isinstance(value, dict):
        spec = Perturbation.from_dict(value)
    elif isinstance(value, (str, Path)) and str(value).endswith(".json"):
        if not Path(value).is_file():
            raise FileNotFoundError(f"perturbation file not found: {value}")
        spec = Perturbation.from_dict(json.loads(Path(value).read_text()))
    elif isinstance(value, str):
        from wmgym.truth.variants import get_perturbation

        if task is None:
            raise ValueError(f"perturbation {value!r} is a variant name: say which task it belongs to")
        spec = get_perturbation(task, value)
    else:
        raise ValueError(
            f"perturbation must be a variant name, a .json file, a dict or a Perturbation, got {type(value).__name__}"
        )
    return None if spec.is_off else spec
