"""`TruthEnv`: a gymnasium MuJoCo env seen through a `TaskSpec`, with pixels and restorable physics."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from wmgym.tasks.spec import TaskSpec
from wmgym.tasks.suite import get_task
from wmgym.truth import perturbed
from wmgym.truth.perturb import Perturbation
from wmgym.truth.perturb import load as load_perturbation
from wmgym.truth.render import FrameRenderer, enlarge_visual_geoms

# The full integration state (time, qpos, qvel, act, warm start, ctrl, ...). FULLPHYSICS leaves
# out the solver warm start, and replay from it then drifts by ~1e-17 (measured).
PHYSICS_STATE = mujoco.mjtState.mjSTATE_INTEGRATION

OBS_KEYS = ("pixels", "state")


class TruthEnv(gym.Env):
    """Ground truth: a gymnasium MuJoCo env, rendered to pixels as its `TaskSpec` says.

    Observation (``obs_mode``):
        - ``"pixels"``: uint8 Box (H, W, 3), rendered headless from the spec's camera.
        - ``"state"``: float32 Box, the wrapped env's own observation vector, so a policy trained on
          it runs unchanged on ``gymnasium.make(spec.gym_id)``.
        - a sequence of those keys (default ``("pixels", "state")``): a Dict space of them.

    Action: the wrapped env's Box, repeated ``spec.action_repeat`` times.

    Reward, ``terminated``: the wrapped env's (rewards summed over repeats). ``truncated`` is True
    after ``spec.episode_length`` agent steps; the env owns its time limit (rather than a
    ``TimeLimit`` wrapper) so truth and dream truncate identically however they are built.

    Physics state: `get_physics_state` / `set_physics_state` save and restore MuJoCo's full
    integration state (``mjSTATE_INTEGRATION``), so any recorded step replays bit-exactly, and
    ``reset(options={"physics_state": s})`` starts an episode from one.

    Perturbation (``perturbation=``): a "real robot" that differs from the simulator
    (`wmgym.truth.perturb.Perturbation`, a variant name such as ``"heavy-forearm"`` from
    ``wmgym perturbations``, a dict or a .json file): physics changes to the model, delayed actions
    and observations, sensor noise, camera pose and lighting. Ranges are drawn at each reset from
    the env's seeded generator; ``info["perturbation"]`` holds the episode's drawn values. None, or
    a perturbation that changes nothing, is the nominal env bit for bit. The physics state holds the
    perturbed model's state; actions still on their way to the motors (a delay) are not part of it.

    Pickling: a pickled env is rebuilt from its arguments and restored to its physics state, step
    count and random generators (no GL or MuJoCo pointers travel), so the copy steps as the original
    would. Frames are rendered lazily, from the first frame on.

    Vector envs: ``gym.make_vec(id, n, vectorization_mode="async")`` works in a process that has not
    rendered yet (the workers are forked before any GL state exists). Forked after a frame was
    rendered, a worker cannot render (GL state does not survive a fork) and reset raises at once;
    ``vector_kwargs={"context": "spawn"}`` (or ``"forkserver"``) always works, from a script with
    an ``if __name__ == "__main__":`` guard.

    Example:
        >>> env = TruthEnv("reacher")
        >>> obs, info = env.reset(seed=0)
        >>> obs["pixels"].shape, obs["state"].shape
        ((64, 64, 3), (10,))

    Version history:
        v0: first version (``wmgym/<Task>-truth-v0``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        task: str | TaskSpec = "reacher",
        obs_mode: str | tuple[str, ...] | list[str] | None = None,
        render_mode: str | None = None,
        render_size: tuple[int, int] | None = None,
        perturbation: str | dict | Perturbation | None = None,
    ):
        self._args = {"task": task, "obs_mode": obs_mode, "render_mode": render_mode, "render_size": render_size}
        if perturbation is not None:
            self._args["perturbation"] = perturbation
        self.task_spec = get_task(task)
        self.perturbation: Perturbation | None = load_perturbation(perturbation, self.task_spec.name)
        self.obs_keys, self._single_key = _parse_obs_mode(obs_mode, self.task_spec)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._render_size = tuple(render_size) if render_size else self.task_spec.image_size

        self._env = gym.make(self.task_spec.gym_id, **dict(self.task_spec.env_kwargs)).unwrapped
        self.model: mujoco.MjModel = self._env.model
        self.data: mujoco.MjData = self._env.data
        enlarge_visual_geoms(self.model, self.task_spec)
        self._changes = (
            perturbed.ModelChanges(self.model, self.perturbation, self.task_spec) if self.perturbation else None
        )
        self._loop: perturbed.LoopState | None = None
        self._sample: Perturbation | None = None
        if self.perturbation is not None and not self.perturbation.is_random:
            self._use_sample(self.perturbation)
        self._renderer = FrameRenderer(self.model, self._render_spec()) if "pixels" in self.obs_keys else None
        self._video_renderer: FrameRenderer | None = None

        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.dt))}
        self.action_space = self._env.action_space
        state_space = self._env.observation_space
        h, w = self.task_spec.image_size
        self._spaces = {
            "pixels": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "state": spaces.Box(-np.inf, np.inf, state_space.shape, np.float32),
        }
        _check_noise_indices(self.perturbation, state_space.shape[0], self.task_spec)
        if self._single_key:
            self.observation_space = self._spaces[self.obs_keys[0]]
        else:
            self.observation_space = spaces.Dict({k: self._spaces[k] for k in self.obs_keys})
        self._elapsed = 0

    @property
    def dt(self) -> float:
        """Seconds of simulated time per agent step."""
        return self._env.dt * self.task_spec.action_repeat

    @property
    def elapsed_steps(self) -> int:
        """Agent steps taken since the last reset."""
        return self._elapsed

    @property
    def perturbation_sample(self) -> Perturbation | None:
        """This episode's robot: the perturbation with its ranges drawn (None for the nominal env)."""
        return self._sample

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.perturbation is not None:
            self._begin_perturbed_episode()
        state, info = self._env.reset(seed=seed)
        if options and options.get("physics_state") is not None:
            self.set_physics_state(options["physics_state"])
            state = self._env._get_obs()
        self._elapsed = 0
        info = dict(info)
        if self.perturbation is not None:
            info["perturbation"] = self._sample.to_dict()
        return self._observe(state), info

    def _begin_perturbed_episode(self) -> None:
        """Draw this episode's robot (ranges only; fixed values were applied once) and clear the
        delay buffers and sensor state. Only the perturbed env draws from ``np_random``."""
        if self.perturbation.is_random:
            self._use_sample(self.perturbation.sample(self.np_random))
        centre = (self.action_space.low + self.action_space.high) / 2
        rng = np.random.default_rng(self.np_random.integers(2**63))
        self._loop = perturbed.LoopState(self._sample, centre.astype(np.float64), rng)

    def _use_sample(self, sample: Perturbation) -> None:
        self._sample = sample
        self._changes.apply(sample, self.data)
        for r in (getattr(self, "_renderer", None), getattr(self, "_video_renderer", None)):
            if r is not None:
                r.set_camera(self._render_spec().camera)

    def _render_spec(self) -> TaskSpec:
        """The task spec the renderers draw with: the camera moved by this episode's perturbation."""
        if self._sample is None:
            return self.task_spec
        return self.task_spec.replace(camera=perturbed.camera(self.task_spec.camera, self._sample.visual))

    def step(self, action):
        action = self._check_action(action)
        if self._loop is not None:
            action = perturbed.perturb_action(self._loop, action, self.action_space.low, self.action_space.high)
        reward, terminated, info = 0.0, False, {}
        for _ in range(self.task_spec.action_repeat):
            state, r, terminated, _, info = self._env.step(action)
            reward += float(r)
            if terminated:
                break
        self._elapsed += 1
        truncated = self._elapsed >= self.task_spec.episode_length and not terminated
        return self._observe(state), reward, bool(terminated), truncated, dict(info)

    def render(self) -> np.ndarray | None:
        """The current frame, (H, W, 3) uint8, at ``render_size`` (default: the spec's image size)."""
        if self.render_mode is None:
            gym.logger.warn("TruthEnv.render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        if self._render_size == self.task_spec.image_size and self._renderer is not None:
            return self._renderer.render(self.data)
        if self._video_renderer is None:
            self._video_renderer = FrameRenderer(self.model, self._render_spec(), self._render_size)
        return self._video_renderer.render(self.data)

    def render_segmentation(self) -> np.ndarray:
        """Per-pixel geom ids of the current frame, int32 (H, W); -1 where no geom is seen."""
        if self._renderer is None:
            self._renderer = FrameRenderer(self.model, self._render_spec())
        seg = self._renderer.segmentation(self.data)
        return np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1).astype(np.int32)

    def get_physics_state(self) -> np.ndarray:
        """MuJoCo's full integration state, float64 (n,)."""
        state = np.empty(mujoco.mj_stateSize(self.model, PHYSICS_STATE), dtype=np.float64)
        mujoco.mj_getState(self.model, self.data, state, PHYSICS_STATE)
        return state

    def set_physics_state(self, state: np.ndarray) -> None:
        """Restore a state from `get_physics_state` (or a dataset's ``physics_state``)."""
        state = np.asarray(state, dtype=np.float64)
        expected = mujoco.mj_stateSize(self.model, PHYSICS_STATE)
        if state.shape != (expected,):
            raise ValueError(
                f"physics state for task {self.task_spec.name!r} must have shape ({expected},), got {state.shape}; "
                "was it recorded on another task?"
            )
        mujoco.mj_setState(self.model, self.data, state, PHYSICS_STATE)
        mujoco.mj_forward(self.model, self.data)  # derived quantities (positions of bodies) for obs and render

    def __getstate__(self) -> dict:
        """The env's arguments and where it stands; no GL state, no MuJoCo pointers."""
        return {
            "args": self._args,
            "physics_state": self.get_physics_state(),
            "elapsed": self._elapsed,
            "rng": (self._np_random, self._np_random_seed),
            "env_rng": (self._env._np_random, self._env._np_random_seed),
            "spec": self.spec,
            "perturbation": (self._sample, self._loop),
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["args"])
        sample, self._loop = state.get("perturbation", (None, None))
        if sample is not None:
            self._use_sample(sample)
        self.set_physics_state(state["physics_state"])
        self._elapsed = state["elapsed"]
        self._np_random, self._np_random_seed = state["rng"]
        self._env._np_random, self._env._np_random_seed = state["env_rng"]
        self.spec = state["spec"]

    def close(self):
        for r in (self._renderer, self._video_renderer):
            if r is not None:
                r.close()
        self._renderer = self._video_renderer = None
        self._env.close()

    def _observe(self, state: np.ndarray):
        obs = {}
        if "pixels" in self.obs_keys:
            obs["pixels"] = self._renderer.render(self.data)
        if "state" in self.obs_keys:
            obs["state"] = np.asarray(state, dtype=np.float32)
        if self._loop is not None:
            obs = perturbed.perturb_observation(self._loop, obs)
        return obs[self.obs_keys[0]] if self._single_key else obs

    def _check_action(self, action) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action for task {self.task_spec.name!r} must have shape {self.action_space.shape}, got {action.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        return action


def _check_noise_indices(perturbation: Perturbation | None, size: int, spec: TaskSpec) -> None:
    indices = perturbation.noise.indices if perturbation is not None else None
    if indices is not None and max(indices) >= size:
        raise ValueError(
            f"perturbation {perturbation.name!r}: noise indices {indices} reach past the {size} entries of "
            f"task {spec.name!r}'s observation"
        )


def _parse_obs_mode(obs_mode, spec: TaskSpec) -> tuple[tuple[str, ...], bool]:
    if obs_mode is None:
        keys, single = tuple(spec.obs_keys), False
    elif isinstance(obs_mode, str):
        keys, single = (obs_mode,), True
    else:
        keys, single = tuple(obs_mode), False
    bad = [k for k in keys if k not in OBS_KEYS]
    if bad or not keys:
        raise ValueError(f"obs_mode must be one of {OBS_KEYS} or a sequence of them, got {obs_mode!r}")
    return keys, single
