"""The task suite: one registered `TaskSpec` per MuJoCo task wmgym models.

Every spec keeps ``action_repeat=1`` and gymnasium's own episode length, so a policy trained on
``state`` in wmgym runs unchanged on ``gymnasium.make(spec.gym_id)``.
"""

from __future__ import annotations

import difflib

from wmgym.tasks.spec import (
    CameraSpec,
    Reference,
    RenderSpec,
    StateComponent,
    TaskSpec,
    Termination,
    Tolerance,
    TrustSpec,
)

_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, overwrite: bool = False) -> TaskSpec:
    """Add a task to the suite so `get_task` and ``wmgym tasks`` know it."""
    if spec.name in _TASKS and not overwrite:
        raise ValueError(f"task {spec.name!r} is already registered; pass overwrite=True to replace it")
    _TASKS[spec.name] = spec
    return spec


def get_task(name: str | TaskSpec) -> TaskSpec:
    """The registered spec called ``name`` (a `TaskSpec` is returned as is)."""
    if isinstance(name, TaskSpec):
        return name
    try:
        return _TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"unknown task {name!r}.{hint} Known tasks: {', '.join(sorted(_TASKS))} (`wmgym tasks` lists them)."
        ) from None


def list_tasks() -> list[str]:
    """Names of all registered tasks, sorted."""
    return sorted(_TASKS)


PIXELS = Tolerance(
    "robot and object pixels",
    "pixels",
    20.0,
    "dB",
    "RMS error under a tenth of the intensity range (25/255) over the pixels of moving bodies, and "
    "better than repeating the last frame or drawing the static background: the robot is drawn where it is",
)


register_task(
    TaskSpec(
        name="inverted_pendulum",
        gym_id="InvertedPendulum-v5",
        # [cart position, pole angle, cart velocity, pole angular velocity]: all joint encoders
        proprio=(0, 1, 2, 3),
        reference=Reference(
            random=5.85,
            expert=1000.0,
            how="20 episodes each (reset seeds 0-19 for random); expert: SB3 SAC, MlpPolicy [128, 128], 30k steps "
            "in MuJoCo (python agents/sac_truth.py --task inverted_pendulum --steps 30000 --checkpoints 1000 3000 "
            "6000 10000 --out runs/policies/sac-inverted_pendulum.zip; 2026-11-30): 1000.00 +- 0.00, the maximum",
        ),
        camera=CameraSpec(mode="fixed", lookat=(0.0, 0.0, 0.3), distance=2.2, azimuth=90.0, elevation=-5.0),
        episode_length=1000,
        terminates=True,
        # InvertedPendulum-v5's step(): terminated = not isfinite(obs).all() or abs(obs[1]) > 0.2
        termination=Termination(healthy=((1, -0.2, 0.2),)),
        trust=TrustSpec(
            components=(
                StateComponent("cart position", 0, 1, "m"),
                StateComponent("pole angle", 1, 2, "rad"),
                StateComponent("cart velocity", 2, 3, "m/s"),
                StateComponent("pole angular velocity", 3, 4, "rad/s"),
            ),
            tolerances=(
                Tolerance(
                    "pole angle",
                    "state",
                    0.05,
                    "rad",
                    "a quarter of the +-0.2 rad band outside which the episode terminates",
                    (1,),
                ),
                Tolerance("cart position", "state", 0.1, "m", "a tenth of the rail's 1 m half-length", (0,)),
                PIXELS,
            ),
        ),
        notes="Side view of the whole rail: the cart (+-1 m) and the pole stay in frame at any "
        "position the task allows before it terminates.",
    )
)

register_task(
    TaskSpec(
        name="reacher",
        gym_id="Reacher-v5",
        # [cos q, sin q (2 each), target x y, q dot (2), fingertip - target (3)]: the joints are sensed
        proprio=(0, 1, 2, 3, 6, 7),
        reference=Reference(
            random=-43.32,
            expert=-4.82,
            how="20 episodes each (reset seeds 0-19 for random); expert: SB3 SAC, MlpPolicy [128, 128], 50k steps "
            "in MuJoCo (python agents/sac_truth.py --task reacher --steps 50000 --checkpoints 1000 3000 10000 30000 "
            "--out runs/policies/sac-reacher.zip; 2026-11-30): -4.82 +- 1.36",
        ),
        camera=CameraSpec(mode="fixed", lookat=(0.0, 0.0, 0.0), distance=0.58, azimuth=90.0, elevation=-90.0),
        render=RenderSpec(
            visual_geom_radius=(("target", 0.025), ("fingertip", 0.02), ("link0", 0.014), ("link1", 0.014)),
        ),
        episode_length=50,
        trust=TrustSpec(
            components=(
                StateComponent("joint angle cos", 0, 2),
                StateComponent("joint angle sin", 2, 4),
                StateComponent("target position", 4, 6, "m"),
                StateComponent("joint velocities", 6, 8, "rad/s"),
                StateComponent("fingertip - target", 8, 10, "m"),
            ),
            tolerances=(
                Tolerance(
                    "fingertip - target",
                    "state",
                    0.02,
                    "m",
                    "a tenth of the arm's 0.21 m reach, under the drawn target's 2.5 cm radius: "
                    "the reward is this distance",
                    (8, 9),
                ),
                PIXELS,
            ),
        ),
        notes="Top-down over the arm's reach (+-0.23 m; the target is drawn within 0.2 m). At 64x64 "
        "the real target (r=9 mm) is a 1-2 pixel dot a world model never learns, so target, "
        "fingertip and links are drawn larger (visual only: no geom in Reacher collides).",
    )
)

register_task(
    TaskSpec(
        name="pusher",
        gym_id="Pusher-v5",
        # [qpos (7), qvel (7), fingertip, object, goal (3 each)]: the arm's joints are sensed
        proprio=tuple(range(14)),
        camera=CameraSpec(mode="fixed", lookat=(0.3, -0.3, -0.3), distance=2.0, azimuth=90.0, elevation=-60.0),
        episode_length=100,
        trust=TrustSpec(
            components=(
                StateComponent("joint angles", 0, 7, "rad"),
                StateComponent("joint velocities", 7, 14, "rad/s"),
                StateComponent("fingertip position", 14, 17, "m"),
                StateComponent("object position", 17, 20, "m"),
                StateComponent("goal position", 20, 23, "m"),
            ),
            tolerances=(
                Tolerance(
                    "fingertip position",
                    "state",
                    0.03,
                    "m",
                    "under the object's 5 cm radius: the fingertip meets the object where predicted",
                    (14, 15, 16),
                ),
                Tolerance(
                    "object position",
                    "state",
                    0.02,
                    "m",
                    "a quarter of the goal disc's 8 cm radius: the reward is the object-goal distance",
                    (17, 18, 19),
                ),
                PIXELS,
            ),
        ),
        notes="Looks down at the table from the side, 60 degrees down: the 7-DoF arm, the object (r=5 cm) "
        "and the goal disc (r=8 cm) are all in view wherever the reset draws them.",
    )
)

register_task(
    TaskSpec(
        name="half_cheetah",
        gym_id="HalfCheetah-v5",
        reference=Reference(
            random=-289.27,
            expert=11448.22,
            how="random: 20 episodes, reset seeds 0-19 (agents/sac_truth.py prints it). expert: the SB3 SAC policy "
            "behind Minari's mujoco/halfcheetah/expert-v0 (Hugging Face farama-minari/HalfCheetah-v5-SAC-expert, "
            "self-reported 11448.22 +- 96.24), not reproduced here: SAC to convergence is ~1M steps, hours on 2 CPU "
            "cores. wmgym's own SB3 SAC, MlpPolicy [128, 128], 60k steps (python agents/sac_truth.py --task "
            "half_cheetah --steps 60000 --checkpoints 3000 10000 25000 --out runs/policies/sac-half_cheetah.zip; "
            "2026-12-01): 2772.52 +- 75.03, 0.27 of it",
        ),
        camera=CameraSpec(
            mode="tracking", lookat=(0.0, 0.0, 0.4), distance=3.5, azimuth=90.0, elevation=-10.0, track_body="torso"
        ),
        episode_length=1000,
        trust=TrustSpec(
            components=(
                StateComponent("torso height and pitch", 0, 2),
                StateComponent("joint angles", 2, 8, "rad"),
                StateComponent("torso velocities", 8, 11),
                StateComponent("joint velocities", 11, 17, "rad/s"),
            ),
            tolerances=(
                Tolerance(
                    "forward velocity",
                    "state",
                    0.5,
                    "m/s",
                    "the reward is the forward velocity; 0.5 m/s is a tenth of a good gait's speed",
                    (8,),
                ),
                Tolerance("torso pitch", "state", 0.1, "rad", "flips start from pitch errors", (1,)),
                PIXELS,
            ),
        ),
        notes="Side view tracking the torso: the cheetah runs far, a fixed camera would lose it. "
        "The floor grid moving under it shows its speed.",
    )
)

register_task(
    TaskSpec(
        name="hopper",
        gym_id="Hopper-v5",
        reference=Reference(
            random=16.51,
            expert=4098.17,
            how="random: 20 episodes, reset seeds 0-19 (agents/sac_truth.py prints it). expert: the SB3 SAC policy "
            "behind Minari's mujoco/hopper/expert-v0 (Hugging Face farama-minari/Hopper-v5-SAC-expert, "
            "self-reported 4098.17 +- 247.70), not reproduced here: SAC to convergence is ~1M steps, hours on 2 CPU "
            "cores. wmgym's own SB3 SAC: envs/hopper/README.md",
        ),
        camera=CameraSpec(
            mode="tracking", lookat=(0.0, 0.0, 1.0), distance=3.0, azimuth=90.0, elevation=-10.0, track_body="torso"
        ),
        episode_length=1000,
        terminates=True,
        # Hopper-v5's is_healthy, on its observation [qpos[1:], clip(qvel, -10, 10)]: torso height
        # z > 0.7, torso angle in (-0.2, 0.2), and qpos[2:] (obs[1:5]) in (-100, 100). Its qvel bound
        # (|qvel| < 100) cannot be read from the clipped velocities; no physical hop comes near it.
        termination=Termination(
            healthy=(
                (0, 0.7, float("inf")),
                (1, -0.2, 0.2),
                (2, -100.0, 100.0),
                (3, -100.0, 100.0),
                (4, -100.0, 100.0),
            ),
            strict=True,
        ),
        trust=TrustSpec(
            components=(
                StateComponent("torso height", 0, 1, "m"),
                StateComponent("torso angle", 1, 2, "rad"),
                StateComponent("joint angles", 2, 5, "rad"),
                StateComponent("velocities", 5, 11),
            ),
            tolerances=(
                Tolerance(
                    "torso height",
                    "state",
                    0.05,
                    "m",
                    "the episode ends below 0.7 m; 5 cm is a fifth of the margin above it",
                    (0,),
                ),
                Tolerance(
                    "torso angle",
                    "state",
                    0.05,
                    "rad",
                    "a quarter of the +-0.2 rad band outside which the episode ends",
                    (1,),
                ),
                PIXELS,
            ),
        ),
        notes="Side view tracking the torso (as gymnasium's own camera does); episodes end when it falls, "
        "so termination matters for the world model.",
    )
)
