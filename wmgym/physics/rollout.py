"""Open-loop rollouts of a task's MuJoCo model from saved physics states, batched."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from wmgym.tasks import TaskSpec, get_task
from wmgym.truth.perturb import Perturbation
from wmgym.truth.perturb import load as load_perturbation
from wmgym.truth.perturbed import ModelChanges

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION
_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS


class BatchedTruth:
    """A task's MuJoCo model, stepped many trajectories at a time.

    ``initial_states`` are truth-env physics states (``TruthEnv.get_physics_state()`` or a
    dataset's ``physics_state``; ``mjSTATE_INTEGRATION``); ``actions`` are agent actions. Each agent
    step is the env's ``frame_skip`` (x the spec's action repeat) MuJoCo steps with the action held.

    ``perturbation`` (a name, dict, file or `Perturbation`, as for `TruthEnv`) changes the model the
    rollouts run in: physics with fixed values only. Delays, sensor noise and ranges drawn per episode
    live in an env's loop, not in the model: step a ``TruthEnv(task, perturbation=...)`` for those.

    Example:
        >>> truth = BatchedTruth("reacher")
        >>> out = truth.rollout(states, actions)  # states (N, n), actions (N, T, 2)
        >>> out["state"].shape                     # (N, T, 10): the env's observation after each step
    """

    def __init__(self, task: str | TaskSpec, perturbation: str | dict | Perturbation | None = None):
        self.task_spec = get_task(task)
        self._env = gym.make(self.task_spec.gym_id, **dict(self.task_spec.env_kwargs)).unwrapped
        self.model: mujoco.MjModel = self._env.model
        self.data: mujoco.MjData = self._env.data
        self.perturbation = load_perturbation(perturbation, self.task_spec.name)
        if self.perturbation is not None:
            if not self.perturbation.physics_only:
                raise ValueError(
                    f"perturbation {self.perturbation.name!r} delays actions or observations, adds sensor noise or "
                    "draws its values per episode: batched rollouts simulate the model only; step "
                    "TruthEnv(task, perturbation=...) for it instead"
                )
            ModelChanges(self.model, self.perturbation, self.task_spec).apply(self.perturbation, self.data)
        self.substeps = int(self._env.frame_skip) * self.task_spec.action_repeat
        self.action_dim = int(self.model.nu)
        self._n_integration = mujoco.mj_stateSize(self.model, _INTEGRATION)
        self._n_full = mujoco.mj_stateSize(self.model, _FULL)

    def rollout(self, initial_states: np.ndarray, actions: np.ndarray, backend: str = "mujoco") -> dict:
        """Roll every action sequence out from its initial state.

        Args:
            initial_states: (N, n) float64 integration states.
            actions: (N, T, A) agent actions (clipped to the actuators' range, as MuJoCo does).
            backend: ``"mujoco"`` (``mujoco.rollout``, CPU threads), ``"mjx"`` (JAX; needs
                ``pip install 'wmgym[mjx]'``) or ``"auto"`` (`default_backend`).

        Returns:
            ``physics_state`` (N, T, n) MuJoCo ``mjSTATE_FULLPHYSICS`` states (no solver warm start)
            ``state`` (N, T, S) float32, the env's observation after each of the T steps, and
            ``terminated`` (N, T) bool, the task's termination rule (`TaskSpec.terminated`) on it (the
            physics runs on after it: mask what follows).
        """
        initial_states = np.asarray(initial_states, np.float64)
        actions = np.asarray(actions, np.float64)
        n = len(initial_states)
        if initial_states.shape != (n, self._n_integration):
            raise ValueError(
                f"initial_states for task {self.task_spec.name!r} must be (N, {self._n_integration}) "
                f"physics states (TruthEnv.get_physics_state()), got {initial_states.shape}"
            )
        if actions.ndim != 3 or actions.shape[0] != n or actions.shape[2] != self.action_dim:
            raise ValueError(f"actions must be (N={n}, T, {self.action_dim}), got {actions.shape}")
        if not np.isfinite(actions).all():
            raise ValueError("actions must be finite; got NaN or inf")
        full, warm = self._to_full(initial_states)
        control = np.repeat(actions, self.substeps, axis=1)  # (N, T * substeps, A)
        if backend == "auto":
            backend = default_backend()
        if backend == "mujoco":
            states, _ = mj_rollout.rollout(self.model, self.data, full, control, initial_warmstart=warm)
        elif backend == "mjx":
            from wmgym.physics.mjx import mjx_rollout

            states = mjx_rollout(self.model, full, control)
        else:
            raise ValueError(f"backend must be 'mujoco', 'mjx' or 'auto', got {backend!r}")
        return self._observations(full, states, control)

    def _to_full(self, integration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        full = np.empty((len(integration), self._n_full))
        warm = np.empty((len(integration), self.model.nv))
        for i, s in enumerate(integration):
            mujoco.mj_setState(self.model, self.data, s, _INTEGRATION)
            mujoco.mj_getState(self.model, self.data, full[i], _FULL)
            warm[i] = self.data.qacc_warmstart
        return full, warm

    def _observations(self, initial: np.ndarray, states: np.ndarray, control: np.ndarray) -> dict:
        """Observations as the env computes them right after its ``mj_step``: MuJoCo computes body
        positions before it integrates (at the last RK4 stage for Reacher), so they lag the new qpos;
        Pusher's fingertip and object positions lag by one substep. Re-running the last substep of
        each agent step from the saved state reproduces ``data`` exactly as the env leaves it."""
        n, total, _ = states.shape
        steps = total // self.substeps
        out = np.empty((n, steps, self._env.observation_space.shape[0]), np.float32)
        m, d = self.model, self.data
        for i in range(n):
            for t in range(steps):
                last = (t + 1) * self.substeps - 1
                mujoco.mj_setState(m, d, states[i, last - 1] if last > 0 else initial[i], _FULL)
                d.ctrl[:] = control[i, last]
                mujoco.mj_step(m, d)
                mujoco.mj_rnePostConstraint(m, d)
                out[i, t] = self._env._get_obs()
        terminated = self.task_spec.terminated(out)
        return {"physics_state": states[:, self.substeps - 1 :: self.substeps], "state": out, "terminated": terminated}


def default_backend() -> str:
    """``"mjx"`` where there is a CUDA GPU and JAX with MJX is installed and sees it, else
    ``"mujoco"`` (on CPU ``mujoco.rollout`` is faster than MJX and needs no compile).

    JAX is imported only when a GPU is present: once imported, its threads make every later
    ``fork`` (subprocesses, e.g. ffmpeg writing a video) warn of deadlocks."""
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("jax") is None:
        return "mujoco"
    try:
        import jax
        from mujoco import mjx  # noqa: F401

        return "mjx" if any(d.platform == "gpu" for d in jax.devices()) else "mujoco"
    except (ImportError, RuntimeError):
        return "mujoco"


def rollout_states(task: str | TaskSpec, initial_states, actions, backend: str = "mujoco", perturbation=None) -> dict:
    """`BatchedTruth(task, perturbation).rollout(initial_states, actions, backend)`."""
    return BatchedTruth(task, perturbation).rollout(initial_states, actions, backend)
