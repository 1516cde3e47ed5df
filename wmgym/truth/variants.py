"""Named "real robot" variants of each task, and realworldrl_suite's combined levels for every task.

``gym.make("wmgym/Reacher-truth-v0", perturbation="strong-motors")``, or the variant's own id
``gym.make("wmgym/Reacher-strong-motors-truth-v0")``; ``wmgym perturbations --task reacher`` lists
them. Plain data (no MuJoCo): the registration of the ids reads this module. docs/sim_to_real.md says
what each variant models and why; the effect each had on a policy trained in nominal MuJoCo is in
its description (30 episodes from reset seeds 0-29: SB3 SAC on reacher; "nominal PPO" is the PPO that
benchmarks/sim_to_real.py trains in nominal MuJoCo, normalized as that benchmark does:
`benchmarks/sim_to_real.py --screen`, benchmarks/results/sim_to_real_screen.md).

Reacher's policies absorb most physics changes: its motors (gear 200) are far stronger than its
links need, and its rotor inertia (armature 1) dwarfs the links' own, so a 10x heavier forearm
changes nothing. The variants that matter change the motors and rotors.
"""

from __future__ import annotations

import difflib
import sys

from wmgym.tasks.suite import get_task, list_tasks
from wmgym.truth.perturb import DelaySpec, NoiseSpec, Perturbation, PhysicsChange

LEVELS = ("easy", "medium", "hard")
"""realworldrl_suite's combined challenges, available for every task (`combined_challenge`)."""

_VARIANTS: dict[str, dict[str, Perturbation]] = {}


def register_perturbation(task: str, spec: Perturbation, *, overwrite: bool = False) -> Perturbation:
    """Add a named variant of ``task`` (its name is ``spec.name``), so `get_perturbation`, TruthEnv's
    ``perturbation=`` and ``wmgym perturbations`` know it, and give it its own gymnasium id
    (``wmgym/Reacher-<name>-truth-v0``)."""
    _add(task, spec, overwrite)
    if "gymnasium" in sys.modules:  # ids registered already: add this one (else gymnasium's import will)
        from wmgym._registration import register_envs

        register_envs()
    return spec


def _add(task: str, spec: Perturbation, overwrite: bool = False) -> None:
    task = get_task(task).name
    if spec.name in LEVELS:
        raise ValueError(f"{spec.name!r} is a combined level of every task; choose another name")
    if spec.name in _VARIANTS.get(task, {}) and not overwrite:
        raise ValueError(f"task {task!r} already has a variant {spec.name!r}; pass overwrite=True to replace it")
    _VARIANTS.setdefault(task, {})[spec.name] = spec


def get_perturbation(task: str, name: str) -> Perturbation:
    """The variant ``name`` of ``task``, or its combined level (``easy``, ``medium``, ``hard``).

    Raises:
        KeyError: an unknown task or variant (the message lists the task's variants).
    """
    task = get_task(task).name
    if name in LEVELS:
        return combined_challenge(task, name)
    try:
        return _VARIANTS.get(task, {})[name]
    except KeyError:
        known = list_perturbations(task)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"task {task!r} has no perturbation {name!r}.{hint} Its variants: {', '.join(known)} "
            "(`wmgym perturbations --task " + task + "` describes them)"
        ) from None


def list_perturbations(task: str) -> list[str]:
    """Names of ``task``'s variants, then the combined levels."""
    return [*_VARIANTS.get(get_task(task).name, {}), *LEVELS]


def tasks_with_variants() -> list[str]:
    """Tasks that have named variants (every task has the combined levels)."""
    return [t for t in list_tasks() if t in _VARIANTS]


_LEVEL = {
    # (physics range factor, action delay, observation delay, noise std, dropped/stuck prob, their steps)
    "easy": (1.25, 1, 0, 0.01, 0.01, 1),
    "medium": (2.0, 2, 1, 0.03, 0.05, 2),
    "hard": (4.0, 3, 2, 0.1, 0.1, 3),
}


def combined_challenge(task: str, level: str) -> Perturbation:
    """realworldrl_suite's combined challenge at ``level``: every kind of change at once, the physics
    drawn anew each episode (its ``uniform`` scheduler). Its structure, with magnitudes sized for
    these tasks' 50-1000-step episodes and units: masses, joint damping and motor gains of the whole
    model drawn in [1/f, f] (f = 1.25 / 2 / 4), actions 1 / 2 / 3 steps late, observations 0 / 1 / 2
    steps old, gaussian noise of std 0.01 / 0.03 / 0.1 on the joint sensors (`TaskSpec.proprio`),
    and 1% / 5% / 10% of readings dropped or stuck for 1 / 2 / 3 steps.
    (realworldrl_suite: delays 3 / 6 / 9 and noise 0.1 / 0.3 / 1.0 at 1,000-step episodes.)"""
    if level not in LEVELS:
        raise ValueError(f"combined level must be one of {', '.join(LEVELS)}, got {level!r}")
    f, act, obs, std, prob, steps = _LEVEL[level]
    spec = get_task(task)
    drawn = (1 / f, f)
    return Perturbation(
        name=level,
        description=f"realworldrl_suite's {level} combined challenge, sized for {spec.name}",
        physics=(
            PhysicsChange("body_mass", scale=drawn),
            PhysicsChange("joint_damping", scale=drawn),
            PhysicsChange("actuator_gain", scale=drawn),
        ),
        delay=DelaySpec(actions=act, observations=obs),
        noise=NoiseSpec(
            observations=std,
            dropped_prob=prob,
            dropped_steps=steps,
            stuck_prob=prob,
            stuck_steps=steps,
            indices=spec.proprio,
        ),
    )


def _physics(name: str, description: str, *changes: PhysicsChange) -> Perturbation:
    return Perturbation(name=name, description=description, physics=changes)


_REACHER_JOINTS = ("joint0", "joint1")
_PUSHER_ARM = (
    "r_shoulder_pan_joint",
    "r_shoulder_lift_joint",
    "r_upper_arm_roll_joint",
    "r_elbow_flex_joint",
    "r_forearm_roll_joint",
    "r_wrist_flex_joint",
    "r_wrist_roll_joint",
)

for _spec in (
    _physics(
        "strong-motors",
        "Motor drivers with 8x the model's current gain: the same command gives 8x the torque, and a "
        "policy tuned to the simulator overshoots. SAC's normalized return 1.00 -> 0.68.",
        PhysicsChange("actuator_gain", _REACHER_JOINTS, scale=8.0),
    ),
    _physics(
        "light-rotors",
        "Direct-drive motors: a tenth of the model's rotor inertia (armature), so the arm accelerates "
        "10x faster under the same torque. SAC's normalized return 1.00 -> 0.62.",
        PhysicsChange("joint_armature", _REACHER_JOINTS, scale=0.1),
    ),
    _physics(
        "stiff-joints",
        "Gearboxes with 100x the model's viscous damping (cold grease, worn bearings): the arm crawls "
        "under the torques that moved it in simulation. Nominal PPO's normalized return drops 0.24 "
        "(SAC's, at 50x: 1.00 -> 0.74).",
        PhysicsChange("joint_damping", _REACHER_JOINTS, scale=100.0),
    ),
    _physics(
        "worn-motors",
        "Aged motors: worn brushes and weakened magnets leave 30% of the modelled torque per unit of "
        "command on both joints, and the shoulder driver's zero has drifted to 10% of full scale. "
        "Nominal PPO's normalized return drops 0.26.",
        PhysicsChange("actuator_gain", _REACHER_JOINTS, scale=0.3),
        PhysicsChange("actuator_bias", ("joint0",), offset=0.1),
    ),
    _physics(
        "heavy-rotors",
        "Motors behind a higher gear ratio than modelled: 30x the rotor inertia reflected through each "
        "joint (armature), so the arm answers the same torque sluggishly and overshoots when it stops. "
        "Nominal PPO's normalized return drops 0.23.",
        PhysicsChange("joint_armature", _REACHER_JOINTS, scale=30.0),
    ),
    _physics(
        "tilted-base",
        "The arm's table tilted, so gravity pulls on the shoulder with 40% of its motor's torque (or a "
        "motor driver's zero-current offset). SAC's normalized return 1.00 -> 0.71, nominal PPO's drops 0.23.",
        PhysicsChange("actuator_bias", ("joint0",), offset=0.4),
    ),
    _physics(
        "heavy-forearm",
        "A forearm 4x heavier than the CAD model (a gripper bolted on): mass and inertia x4. Reacher's "
        "rotor inertia dwarfs the link's, so SAC does not notice it (normalized return 1.00 -> 1.00).",
        PhysicsChange("body_mass", ("body1",), scale=4.0),
    ),
    _physics(
        "damped-elbow",
        "An elbow gearbox with 8x the model's damping. SAC's normalized return 1.00 -> 0.98.",
        PhysicsChange("joint_damping", ("joint1",), scale=8.0),
    ),
    _physics(
        "weak-shoulder",
        "A shoulder motor delivering 35% of the modelled torque. SAC's normalized return 1.00 -> 0.97.",
        PhysicsChange("actuator_gain", ("joint0",), scale=0.35),
    ),
    _physics(
        "long-forearm",
        "A forearm 30% longer than modelled (a tool on the fingertip). SAC's normalized return 1.00 -> 0.97.",
        PhysicsChange("link_length", ("body1",), scale=1.3),
    ),
    Perturbation(
        name="latency-2",
        description="Each action reaches the motors 2 steps (40 ms) late: a slow bus or a controller on a "
        "network. SAC's normalized return 1.00 -> 0.97 (4 steps: 0.77). Not Markov in the observation: "
        "an oracle needs its pending actions as input.",
        delay=DelaySpec(actions=2),
    ),
    Perturbation(
        name="noisy-encoders",
        description="Joint velocity readings with gaussian noise of std 2 rad/s (velocities differentiated "
        "from coarse encoders). SAC's normalized return 1.00 -> 0.92.",
        noise=NoiseSpec(observations=2.0, indices=(6, 7)),
    ),
):
    _add("reacher", _spec)

for _spec in (
    _physics(
        "tilted-base",
        "The base tilted, so gravity turns the shoulder pan with three quarters of its motor's range "
        "(-1.5 of +-2). Nominal PPO's normalized return drops 0.26.",
        PhysicsChange("actuator_bias", ("r_shoulder_pan_joint",), offset=-1.5),
    ),
    _physics(
        "offset-drivers",
        "The shoulder-lift and elbow motor drivers with zero-current offsets of half their range (-1 and "
        "+1 of +-2; drivers swapped and never calibrated): the arm drifts when commanded still. Nominal "
        "PPO's normalized return drops 0.28.",
        PhysicsChange("actuator_bias", ("r_shoulder_lift_joint",), offset=-1.0),
        PhysicsChange("actuator_bias", ("r_elbow_flex_joint",), offset=1.0),
    ),
    _physics(
        "dry-joints",
        "Dry (Coulomb) friction of 0.5 N m on every arm joint (tight seals, dry bearings): small torques "
        "no longer move the arm. Nominal PPO's normalized return drops 0.22.",
        PhysicsChange("joint_friction", _PUSHER_ARM, offset=0.5),
    ),
    _physics(
        "weak-arm",
        "Motors delivering a tenth of the modelled torque (a current limit on a smaller power supply). "
        "Dream PPO's return -40.8 -> -58.1.",
        PhysicsChange("actuator_gain", _PUSHER_ARM, scale=0.1),
    ),
    _physics(
        "stiff-joints",
        "Every arm joint with 10x the model's viscous damping. Dream PPO's return -40.8 -> -54.5.",
        PhysicsChange("joint_damping", _PUSHER_ARM, scale=10.0),
    ),
    _physics(
        "heavy-object",
        "A 1 kg puck instead of the model's weightless disc: it keeps sliding after a push. Matters only "
        "to a policy that pushes it (dream PPO does not reach the object: -40.8 -> -40.8).",
        PhysicsChange("body_mass", ("object",), offset=1.0),
    ),
    _physics(
        "sticky-object",
        "An object dragging on the table with 10x the model's damping on its slides: it needs 10x the "
        "force to move. Matters only to a policy that pushes it.",
        PhysicsChange("joint_damping", ("obj_slidex", "obj_slidey"), scale=10.0),
    ),
    _physics(
        "heavy-forearm",
        "Forearm and wrist 3x heavier than modelled (a heavier gripper). Dream PPO's return -40.8 -> -41.6.",
        PhysicsChange("body_mass", ("r_forearm_link", "r_wrist_flex_link", "r_wrist_roll_link"), scale=3.0),
    ),
    Perturbation(
        name="latency-2",
        description="Each action reaches the motors 2 steps (100 ms) late. Dream PPO's return -40.8 -> -42.0.",
        delay=DelaySpec(actions=2),
    ),
):
    _add("pusher", _spec)

for _spec in (
    _physics(
        "heavy-pole",
        "A pole 3x heavier than modelled (mass and inertia). SAC (6k steps) balances 99 -> 95 steps.",
        PhysicsChange("body_mass", ("pole",), scale=3.0),
    ),
    _physics(
        "weak-motor",
        "A cart motor delivering 10% of the modelled force. SAC (6k steps): 99 -> 87 steps balanced.",
        PhysicsChange("actuator_gain", ("slider",), scale=0.1),
    ),
    _physics(
        "rail-friction",
        "Dry friction of 5 N on the rail (a dirty bearing). SAC (6k steps): 99 -> 96 steps balanced.",
        PhysicsChange("joint_friction", ("slider",), offset=5.0),
    ),
    Perturbation(
        name="latency-1",
        description="Each force command arrives one step (40 ms) late. SAC (6k steps): 99 -> 13 steps balanced.",
        delay=DelaySpec(actions=1),
    ),
    Perturbation(
        name="tilted-encoder",
        description="The pole's angle encoder reads 0.05 rad high (mounted off by 3 degrees). SAC (6k steps): "
        "99 -> 49 steps balanced.",
        noise=NoiseSpec(offset=0.05, indices=(1,)),
    ),
):
    _add("inverted_pendulum", _spec)
