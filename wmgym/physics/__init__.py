"""Batched ground truth: many MuJoCo rollouts at once, without rendering.

`rollout_states` runs open-loop action sequences from saved physics states through
``mujoco.rollout`` (C++, threaded) on CPU, or through MJX (JAX) with ``backend="mjx"`` where an
accelerator is present, and returns the task env's own observation vector per step, exactly as
the truth env would have returned it. Rendering is the slow part of ground truth on these machines;
this is how calibration measures state error on hundreds of rollouts while it renders a few dozen.
"""

from wmgym.physics.rollout import BatchedTruth, default_backend, rollout_states

__all__ = ["BatchedTruth", "default_backend", "rollout_states"]
