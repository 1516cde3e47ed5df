"""Policies, and the one way wmgym names them: uniform random, zero, temporally correlated noise,
any SB3 policy (with optional action noise), a fixed action sequence, or your own callable.

One convention everywhere (collection, calibration, the demo, `wmgym.episode.run_episode`): a policy
is called on the observation exactly as the env returns it (a dict of keys, or one array) and
returns an action; ``policy.reset(rng)`` starts an episode with its own random generator, so an
episode's actions depend only on its seed, never on the process it ran in.

Policy names on the command line: ``random``, ``zero``, ``ou-noise``, or the path of an SB3 ``.zip``
(optionally ``algo:path.zip``, and ``@NOISE`` for Gaussian action noise, e.g. ``sac.zip@0.3``; also
``zero@0.05``: a robot at rest under small random torques).
Loading an SB3 ``.zip`` runs code: SB3 unpickles parts of it. Load only files you trust.
"""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np


class RandomPolicy:
    """Uniform random actions over the action box. Covers the action space; rarely reaches a goal."""

    name = "random"

    def __init__(self, action_space: gym.spaces.Box):
        self.low, self.high = action_space.low, action_space.high
        self.rng = np.random.default_rng()

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, obs) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


class ZeroPolicy(RandomPolicy):
    """The action in the middle of the box (zero torque for symmetric ranges): the do-nothing baseline.
    With ``noise`` (``zero@0.05``): Gaussian actions around it, std ``noise`` half action ranges, clipped
    to the box: a robot at rest under small disturbances."""

    name = "zero"

    def __init__(self, action_space: gym.spaces.Box, noise: float = 0.0):
        super().__init__(action_space)
        self.noise = noise

    def __call__(self, obs) -> np.ndarray:
        centre = (self.low + self.high) / 2
        if self.noise > 0:
            centre = centre + self.noise * (self.high - self.low) / 2 * self.rng.standard_normal(centre.shape)
            centre = np.clip(centre, self.low, self.high)
        return centre.astype(np.float32)


class OUNoisePolicy(RandomPolicy):
    """Ornstein-Uhlenbeck noise, scaled to the action box: smooth, sweeping motions.

    Random actions average out and the robot jitters in place; correlated noise carries it
    across its workspace, which is what a world model needs to see.

    Args:
        theta: pull back to the centre per step (1/theta ~ correlation time in steps).
        sigma: noise scale per step, in units of half the action range.
    """

    name = "ou-noise"

    def __init__(self, action_space: gym.spaces.Box, theta: float = 0.15, sigma: float = 0.3):
        super().__init__(action_space)
        self.theta, self.sigma = theta, sigma
        self.x = np.zeros(action_space.shape)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.x = rng.uniform(-1, 1, self.x.shape)

    def __call__(self, obs) -> np.ndarray:
        self.x += -self.theta * self.x + self.sigma * self.rng.standard_normal(self.x.shape)
        self.x = np.clip(self.x, -1, 1)
        mid, half = (self.high + self.low) / 2, (self.high - self.low) / 2
        return (mid + half * self.x).astype(np.float32)


# SB3 saves the policy class's module in the zip; it names the algorithm for off-policy methods.
# PPO and A2C share ActorCriticPolicy ("common"): either loads the other's policy for inference.
_SB3_ALGOS = {"sac": "SAC", "td3": "TD3", "ddpg": "DDPG", "ppo": "PPO", "a2c": "A2C", "common": "PPO"}


class SB3Policy:
    """Actions of a saved stable-baselines3 model (``.zip``), optionally with Gaussian noise.

    The model's observation space decides what it is fed: the env's ``state`` vector or its
    ``pixels``. Name the algorithm (``sac:path.zip``) if the file does not say it.

    Args:
        path: the ``.zip`` that ``model.save()`` wrote, optionally prefixed ``algo:``.
        obs_spaces: the env's observation spaces by key (``pixels``, ``state``).
        action_space: the env's action box (noisy actions are clipped to it).
        noise: std of Gaussian noise added to actions, in units of half the action range.
        deterministic: use the policy's mean action (before noise).
    """

    def __init__(
        self, path: str, obs_spaces: dict, action_space: gym.spaces.Box, noise: float = 0.0, deterministic: bool = True
    ):
        algo, file = _split_algo(path)
        self.name = f"sb3:{Path(file).name}"
        self.sha256 = file_sha256(file)
        self.model = _load_sb3(algo, file)
        self.key = _matching_key(self.model.observation_space, obs_spaces, file)
        if self.model.action_space.shape != action_space.shape:
            raise ValueError(
                f"SB3 policy {file} acts in shape {self.model.action_space.shape}, "
                f"but this task's actions have shape {action_space.shape}"
            )
        self.low, self.high = action_space.low, action_space.high
        self.noise, self.deterministic = noise, deterministic
        self.rng = np.random.default_rng()

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, obs) -> np.ndarray:
        x = obs[self.key] if isinstance(obs, dict) else obs
        action, _ = self.model.predict(x, deterministic=self.deterministic)
        if self.noise > 0:
            action = action + self.noise * (self.high - self.low) / 2 * self.rng.standard_normal(action.shape)
        return np.clip(action, self.low, self.high).astype(np.float32)


class ReplayPolicy:
    """A fixed action sequence, one action per call (e.g. a dataset episode's actions, to replay it)."""

    name = "replay"

    def __init__(self, actions: np.ndarray):
        self.actions = np.asarray(actions, np.float32)
        self.t = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.t = 0

    def __call__(self, obs) -> np.ndarray:
        if self.t >= len(self.actions):
            raise IndexError(f"ReplayPolicy has only {len(self.actions)} actions")
        self.t += 1
        return self.actions[self.t - 1]


class CallablePolicy:
    """Any ``fn(obs) -> action`` as a policy (no random state of its own)."""

    def __init__(self, fn: Callable, name: str = "callable"):
        self.fn, self.name = fn, name

    def reset(self, rng: np.random.Generator) -> None:
        pass

    def __call__(self, obs) -> np.ndarray:
        return np.asarray(self.fn(obs), np.float32)


def as_policy(policy) -> object:
    """``policy`` if it already has ``reset``, else a plain callable wrapped as `CallablePolicy`."""
    return policy if hasattr(policy, "reset") else CallablePolicy(policy)


def make_policy(policy: str, env, noise: float | None = None):
    """Build a policy from its name: ``random``, ``zero``, ``ou-noise``, or an SB3 ``.zip`` path
    (``algo:`` prefix and ``@NOISE`` suffix allowed, the suffix also on ``zero``). ``noise`` overrides
    the suffix.

    ``env`` gives the action space, and the observation spaces an SB3 policy is matched against.
    """
    name, noise_level = parse_policy(policy)
    noise = noise_level if noise is None else noise
    if name == "random":
        return RandomPolicy(env.action_space)
    if name == "zero":
        return ZeroPolicy(env.action_space, noise)
    if name in ("ou-noise", "ou"):
        return OUNoisePolicy(env.action_space)
    if name.endswith(".zip"):
        spaces = getattr(env, "_spaces", None) or {"state": env.observation_space}
        return SB3Policy(name, spaces, env.action_space, noise=noise)
    raise ValueError(
        f"unknown policy {policy!r}: use 'random', 'zero', 'ou-noise', or the path of a stable-baselines3 "
        "model saved with model.save() (a .zip, optionally prefixed with its algorithm, e.g. sac:model.zip, "
        "optionally suffixed with action noise, e.g. model.zip@0.3)"
    )


def parse_policy(policy: str) -> tuple[str, float]:
    """``"sac.zip@0.3"`` -> ``("sac.zip", 0.3)``; no suffix -> noise 0."""
    path, _, noise = policy.partition("@")
    try:
        return path, float(noise) if noise else 0.0
    except ValueError:
        raise ValueError(f"policy {policy!r}: the part after '@' must be a noise level, e.g. model.zip@0.3") from None


def policy_label(policy: str) -> str:
    """A short name for a policy string: ``random``, ``zero``, ``ou-noise``, ``sac_30k.zip@0.3``."""
    path, _, noise = policy.partition("@")
    name = path.rsplit("/", 1)[-1]
    return f"{name}@{noise}" if noise else name


def policy_identity(policy: str) -> str:
    """What a dataset records to recognise its policy: the name, and for an SB3 file the sha256 of its
    bytes too, so a different file under the same name is not taken for the same policy."""
    path, noise = parse_policy(policy)
    if not path.endswith(".zip"):
        return policy
    _, file = _split_algo(path)
    return f"sb3:{Path(file).name}#sha256={file_sha256(file)[:16]}" + (f"@{noise:g}" if noise else "")


def file_sha256(file: str | Path) -> str:
    """sha256 of a file's bytes (a clear error if it is missing)."""
    if not Path(file).is_file():
        raise FileNotFoundError(f"SB3 policy file not found: {file}")
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()


def clone_policy(policy, n: int) -> list:
    """``n`` copies of a policy that share its (read-only) network but not its noise state."""
    return [copy.copy(policy) for _ in range(n)]


def _split_algo(path: str) -> tuple[str | None, str]:
    head, sep, tail = path.partition(":")
    if sep and head.lower() in _SB3_ALGOS:
        return head.lower(), tail
    return None, path


def _load_sb3(algo: str | None, file: str):
    import stable_baselines3 as sb3

    if not Path(file).is_file():
        raise FileNotFoundError(f"SB3 policy file not found: {file}")
    try:
        with zipfile.ZipFile(file) as z:
            data = json.loads(z.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{file} is not a stable-baselines3 model saved with model.save(): {e}") from None
    if algo is None:
        module = data.get("policy_class", {}).get("__module__", "")
        algo = next((k for k in _SB3_ALGOS if f".{k}." in module), None)
        if algo is None:
            raise ValueError(f"cannot tell which SB3 algorithm saved {file}; prefix it, e.g. 'ppo:{file}'")
    return getattr(sb3, _SB3_ALGOS[algo]).load(file, device="cpu")


def _matching_key(space, obs_spaces: dict, file: str) -> str:
    for key, candidate in obs_spaces.items():
        if candidate.shape == space.shape:
            return key
    shapes = {k: s.shape for k, s in obs_spaces.items()}
    raise ValueError(
        f"SB3 policy {file} takes observations of shape {space.shape}, but this task offers {shapes}; "
        "was it trained on another task?"
    )
