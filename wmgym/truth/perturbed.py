"""Applying a `Perturbation` to a task's MuJoCo model (physics, lights) and to an env loop (delays,
sensor noise, camera pose). `TruthEnv` and `wmgym.physics.BatchedTruth` use these; the spec itself is
`wmgym.truth.perturb`."""

from __future__ import annotations

import dataclasses
from collections import deque

import mujoco
import numpy as np

from wmgym.tasks.spec import CameraSpec, TaskSpec
from wmgym.truth.perturb import Perturbation, PhysicsChange, VisualSpec

_KINDS = {"body": mujoco.mjtObj.mjOBJ_BODY, "joint": mujoco.mjtObj.mjOBJ_JOINT}

# The model fields a perturbation may change: saved once, restored before each new episode's values.
_FIELDS = (
    "body_mass",
    "body_inertia",
    "body_pos",
    "body_ipos",
    "geom_pos",
    "geom_size",
    "site_pos",
    "geom_friction",
    "dof_damping",
    "dof_frictionloss",
    "dof_armature",
    "actuator_gainprm",
    "actuator_biasprm",
    "actuator_biastype",
    "light_diffuse",
    "light_ambient",
)


class ModelChanges:
    """The physics and lighting of a `Perturbation` on one MuJoCo model, with the nominal values kept.

    The element names are checked when this is made, so a spec naming a body the task lacks fails at
    once, with the names the task has.

    Raises:
        ValueError: a name the model lacks, or a change that makes a mass, damping or friction negative.
    """

    def __init__(self, model: mujoco.MjModel, spec: Perturbation, task: TaskSpec):
        self.model, self.task = model, task
        self.targets = [_resolve(model, c, task) for c in spec.physics]
        self._nominal = {f: getattr(model, f).copy() for f in _FIELDS}
        self._headlight = (model.vis.headlight.diffuse.copy(), model.vis.headlight.ambient.copy())

    def apply(self, sample: Perturbation, data: mujoco.MjData) -> None:
        """Set the model to the nominal one changed by ``sample`` (fixed values: `Perturbation.sample`)."""
        m = self.model
        for f, v in self._nominal.items():
            getattr(m, f)[...] = v
        m.vis.headlight.diffuse[:], m.vis.headlight.ambient[:] = self._headlight
        for change, idx in zip(sample.physics, self.targets, strict=True):
            _APPLY[change.quantity](m, idx, change.scale, change.offset)
            _check_physical(m, change, self.task)
        self._light(sample.visual.light)
        if sample.physics:
            mujoco.mj_setConst(m, data)  # constants derived from masses and positions (e.g. invweight0)

    def _light(self, factor: float) -> None:
        m = self.model
        m.vis.headlight.diffuse[:] = self._headlight[0] * factor
        m.vis.headlight.ambient[:] = self._headlight[1] * factor
        m.light_diffuse[:] = self._nominal["light_diffuse"] * factor
        m.light_ambient[:] = self._nominal["light_ambient"] * factor


def camera(spec: CameraSpec, visual: VisualSpec) -> CameraSpec:
    """The task's camera moved by a (sampled) `VisualSpec`."""
    lookat = tuple(a + b for a, b in zip(spec.lookat, visual.lookat, strict=True))
    return dataclasses.replace(
        spec,
        lookat=lookat,
        azimuth=spec.azimuth + visual.azimuth,
        elevation=spec.elevation + visual.elevation,
        distance=spec.distance + visual.distance,
    )


class LoopState:
    """What a perturbed env carries from step to step: the actions on their way to the motors, the
    observations on their way to the agent, the sensors' dropped and stuck counters and its noise
    generator. Plain data, so a pickled env resumes exactly."""

    def __init__(self, sample: Perturbation, action_centre: np.ndarray, rng: np.random.Generator):
        self.sample = sample
        self.rng = rng
        self.pending = deque([action_centre.copy() for _ in range(sample.delay.actions)])
        self.observations: deque | None = None
        self.dropped: np.ndarray | None = None
        self.stuck: np.ndarray | None = None
        self.last: np.ndarray | None = None


def perturb_action(loop: LoopState, action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The action that reaches the motors now: the one sent ``delay.actions`` steps ago (realworldrl_suite's
    order: delay, then gaussian noise), clipped to the action box."""
    if loop.pending or loop.sample.delay.actions:
        loop.pending.append(np.array(action, dtype=np.float64))
        action = loop.pending.popleft()
    std = loop.sample.noise.actions
    if std:
        action = np.clip(action + std * loop.rng.standard_normal(action.shape), low, high)
    return action


def perturb_observation(loop: LoopState, obs: dict) -> dict:
    """The observation that reaches the agent now: sensor noise on ``state`` (offset, gaussian,
    dropped, stuck), then the delay (state and pixels alike)."""
    noise = loop.sample.noise
    if "state" in obs and not noise.is_off:
        obs = {**obs, "state": _sense(loop, obs["state"])}
    k = loop.sample.delay.observations
    if not k:
        return obs
    if loop.observations is None:  # the first observation: nothing older exists yet
        loop.observations = deque([obs] * k)
    loop.observations.append(obs)
    # copies: while the buffer fills, one reading is returned several times, and a caller may keep each
    return {key: np.array(v, copy=True) for key, v in loop.observations.popleft().items()}


def _sense(loop: LoopState, state: np.ndarray) -> np.ndarray:
    noise, rng = loop.sample.noise, loop.rng
    idx = np.arange(len(state)) if noise.indices is None else np.asarray(noise.indices)
    out = np.array(state, dtype=np.float32)
    x = out[idx].astype(np.float64) + noise.offset
    if noise.observations:
        x = x + noise.observations * rng.standard_normal(len(idx))
    if noise.dropped_prob:
        loop.dropped = _counter(loop.dropped, len(idx), rng, noise.dropped_prob, noise.dropped_steps)
        x = np.where(loop.dropped > 0, 0.0, x)
        loop.dropped = np.maximum(loop.dropped - 1, 0)
    if noise.stuck_prob:
        loop.stuck = _counter(loop.stuck, len(idx), rng, noise.stuck_prob, noise.stuck_steps)
        if loop.last is not None:
            x = np.where(loop.stuck > 0, loop.last, x)
        loop.stuck = np.maximum(loop.stuck - 1, 0)
        loop.last = x.copy()
    out[idx] = x
    return out


def _counter(counter: np.ndarray | None, n: int, rng, prob: float, steps: int) -> np.ndarray:
    """realworldrl_suite's dropped/stuck bookkeeping: an entry not already affected starts ``steps``
    affected steps with probability ``prob``."""
    counter = np.zeros(n, np.int64) if counter is None else counter
    start = (counter == 0) & (rng.random(n) < prob)
    return np.where(start, steps, counter)


# -- physics changes ---------------------------------------------------------------------------


def _resolve(model: mujoco.MjModel, change: PhysicsChange, task: TaskSpec) -> np.ndarray:
    """Indices of the elements ``change`` applies to (bodies, joints or actuators)."""
    kind = change.kind
    if kind == "actuator":
        return _actuators(model, change, task)
    if not change.names:
        first = 1 if kind == "body" else 0  # every body but the world
        return np.arange(first, model.nbody if kind == "body" else model.njnt)
    ids = [mujoco.mj_name2id(model, _KINDS[kind], n) for n in change.names]
    missing = [n for n, i in zip(change.names, ids, strict=True) if i < 0]
    if missing:
        raise ValueError(
            f"perturbation of {change.quantity}: task {task.name!r} has no {kind} named {', '.join(map(repr, missing))}; "
            f"its {kind}s are {', '.join(_names(model, kind))}"
        )
    return np.asarray(ids)


def _actuators(model: mujoco.MjModel, change: PhysicsChange, task: TaskSpec) -> np.ndarray:
    driven = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu) if model.actuator_trntype[a] == 0}
    if not change.names:
        return np.arange(model.nu)
    out = []
    for n in change.names:
        j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
        if j not in driven:
            have = ", ".join(model.joint(i).name for i in sorted(driven))
            raise ValueError(
                f"perturbation of {change.quantity}: actuators are named by the joint they drive, and no actuator "
                f"of task {task.name!r} drives a joint {n!r}; driven joints: {have}"
            )
        out.append(driven[j])
    return np.asarray(out)


def _names(model: mujoco.MjModel, kind: str) -> list[str]:
    if kind == "body":
        return [model.body(i).name for i in range(1, model.nbody)]
    return [model.joint(i).name for i in range(model.njnt)]


def _mass(m: mujoco.MjModel, bodies: np.ndarray, scale: float, offset: float) -> None:
    old = m.body_mass[bodies].copy()
    m.body_mass[bodies] = old * scale + offset
    ratio = np.divide(m.body_mass[bodies], old, out=np.ones_like(old), where=old > 0)
    m.body_inertia[bodies] *= ratio[:, None]


def _length(m: mujoco.MjModel, bodies: np.ndarray, scale: float, offset: float) -> None:
    for b in bodies:
        m.body_pos[m.body_parentid == b] *= scale  # the bodies this link carries sit farther out
        m.body_ipos[b] *= scale
        geoms = np.flatnonzero(m.geom_bodyid == b)
        m.geom_pos[geoms] *= scale
        segments = geoms[np.isin(m.geom_type[geoms], (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER))]
        m.geom_size[segments, 1] *= scale  # half-length of capsules and cylinders
        m.site_pos[m.site_bodyid == b] *= scale


def _dofs(m: mujoco.MjModel, joints: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(m.dof_jntid, joints))


def _damping(m, joints, scale, offset) -> None:
    dofs = _dofs(m, joints)
    m.dof_damping[dofs] = m.dof_damping[dofs] * scale + offset


def _joint_friction(m, joints, scale, offset) -> None:
    dofs = _dofs(m, joints)
    m.dof_frictionloss[dofs] = m.dof_frictionloss[dofs] * scale + offset


def _armature(m, joints, scale, offset) -> None:
    dofs = _dofs(m, joints)
    m.dof_armature[dofs] = m.dof_armature[dofs] * scale + offset


def _contact_friction(m, bodies, scale, offset) -> None:
    geoms = np.flatnonzero(np.isin(m.geom_bodyid, bodies))
    m.geom_friction[geoms, 0] = m.geom_friction[geoms, 0] * scale + offset


def _gain(m, actuators, scale, offset) -> None:
    old = m.actuator_gainprm[actuators, 0].copy()
    m.actuator_gainprm[actuators, 0] = old * scale + offset
    ratio = np.divide(m.actuator_gainprm[actuators, 0], old, out=np.ones_like(old), where=old != 0)
    servo = m.actuator_biastype[actuators] == mujoco.mjtBias.mjBIAS_AFFINE
    # a servo's stiffness and damping are its gain too (position servo: gain kp, bias -kp q)
    m.actuator_biasprm[actuators[servo], 1:3] *= ratio[servo, None]


def _bias(m, actuators, scale, offset) -> None:
    m.actuator_biastype[actuators] = mujoco.mjtBias.mjBIAS_AFFINE  # a motor's "none" adds nothing
    m.actuator_biasprm[actuators, 0] += offset


_APPLY = {
    "body_mass": _mass,
    "link_length": _length,
    "joint_damping": _damping,
    "joint_friction": _joint_friction,
    "joint_armature": _armature,
    "contact_friction": _contact_friction,
    "actuator_gain": _gain,
    "actuator_bias": _bias,
}


def _check_physical(m: mujoco.MjModel, change: PhysicsChange, task: TaskSpec) -> None:
    values = {
        "body_mass": m.body_mass,
        "joint_damping": m.dof_damping,
        "joint_friction": m.dof_frictionloss,
        "joint_armature": m.dof_armature,
        "contact_friction": m.geom_friction[:, 0],
    }.get(change.quantity)
    if values is not None and (values < 0).any():
        raise ValueError(
            f"perturbation of {change.quantity} (scale {change.scale}, offset {change.offset}) makes a value of "
            f"task {task.name!r} negative; use a smaller offset"
        )
