"""The agents a benchmark trains in the dream, and the one signature they share.

An agent is a function::

    def agent(make_env, budget: int, seed: int, *, checkpoint=None, logdir=None) -> policy

- ``make_env(num_envs)`` returns a batched dream env of the task (a gymnasium ``VectorEnv``, state
  observations as numpy arrays; `wmgym.dream.sb3.Sb3VecEnv` makes it an SB3 ``VecEnv``). Every env
  step counts against ``budget``; stepping past it raises `BudgetExceeded`.
  ``make_env.world_model()`` gives (model, TaskSpec, action space, context) for agents that imagine
  on the model directly; they charge their latent steps with ``make_env.spend(n)``.
- ``seed`` seeds everything the agent draws.
- ``checkpoint(policy)`` (optional keyword): call it now and then with the current policy; the
  benchmark scores it in MuJoCo whenever training has crossed the next point of the sample-efficiency
  curve since the last call, and ignores the call otherwise (so calling it often is cheap).
- ``logdir`` (optional keyword): a folder for the agent's own TensorBoard logs.
- It returns a policy: ``policy(obs) -> action`` on one state observation (the MuJoCo env's own
  observation vector, so it runs unchanged in MuJoCo).

Built in: ``ppo`` and ``sac`` (stable-baselines3 on the batched dream) and ``latent_ac`` (an actor-critic
trained in imagination on the world model's latent step, `wmgym.bench.latent_ac`). Your own: pass
``module:function`` (the module must be importable: installed, or on PYTHONPATH).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from wmgym.bench.config import BUILTIN_AGENTS, check_agent_name
from wmgym.dream.sb3 import Sb3VecEnv


@dataclass(frozen=True)
class PPOConfig:
    """SB3 PPO in the batched dream (the demo's settings, which reach 0.94 normalized on reacher at 1M steps)."""

    n_envs: int = 32
    """Batched dream envs."""
    n_steps: int = 64
    """Steps per env per rollout."""
    batch_size: int = 512
    n_epochs: int = 5
    learning_rate: float = 1e-3
    gamma: float = 0.95
    net_arch: tuple[int, ...] = (64, 64)


@dataclass(frozen=True)
class SACConfig:
    """SB3 SAC in the batched dream: one gradient step per ``n_envs`` dream steps."""

    n_envs: int = 8
    gradient_steps: int = 1
    """Gradient steps per batched step (so per ``n_envs`` dream steps)."""
    learning_starts: int = 1000
    batch_size: int = 256
    learning_rate: float = 3e-4
    gamma: float = 0.99
    net_arch: tuple[int, ...] = field(default=(128, 128))


def ppo(make_env, budget: int, seed: int, *, checkpoint=None, logdir=None, config: PPOConfig | None = None):
    """Train SB3 PPO in the dream for at most ``budget`` steps (whole rollouts only)."""
    from stable_baselines3 import PPO

    cfg = config or PPOConfig()
    n_envs = max(1, min(cfg.n_envs, budget // cfg.n_steps))
    rollout = n_envs * cfg.n_steps
    if rollout > budget:
        raise ValueError(f"ppo needs a budget of at least {rollout} dream steps (one rollout), got {budget}")
    venv = _vec_env(make_env, n_envs, seed)
    agent = PPO(
        "MlpPolicy",
        venv,
        n_steps=cfg.n_steps,
        batch_size=min(cfg.batch_size, rollout),
        n_epochs=cfg.n_epochs,
        learning_rate=cfg.learning_rate,
        gamma=cfg.gamma,
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        seed=seed,
        device="cpu",
        tensorboard_log=logdir,
    )
    return _learn(agent, budget // rollout * rollout, checkpoint)


def sac(make_env, budget: int, seed: int, *, checkpoint=None, logdir=None, config: SACConfig | None = None):
    """Train SB3 SAC in the dream for at most ``budget`` steps."""
    from stable_baselines3 import SAC

    cfg = config or SACConfig()
    n_envs = max(1, min(cfg.n_envs, budget))
    venv = _vec_env(make_env, n_envs, seed)
    agent = SAC(
        "MlpPolicy",
        venv,
        learning_starts=min(cfg.learning_starts, budget // 4),
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        gamma=cfg.gamma,
        train_freq=1,
        gradient_steps=cfg.gradient_steps,
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        seed=seed,
        device="cpu",
        tensorboard_log=logdir,
    )
    return _learn(agent, budget // n_envs * n_envs, checkpoint)


def _vec_env(make_env, n_envs: int, seed: int) -> Sb3VecEnv:
    venv = Sb3VecEnv(make_env(n_envs))
    venv.seed(seed)
    return venv


def _learn(agent, steps: int, checkpoint):
    policy = sb3_policy(agent)
    callback = _Checkpoints(checkpoint, policy) if checkpoint is not None else None
    agent.learn(steps, callback=callback, progress_bar=False)
    return policy


def sb3_policy(agent) -> Callable[[np.ndarray], np.ndarray]:
    """``obs -> action`` of an SB3 model's deterministic (mean) action."""
    return lambda obs: agent.predict(obs, deterministic=True)[0]


class _Checkpoints(BaseCallback):
    """Offers the policy to the benchmark after every batched step (it scores only at curve points)."""

    def __init__(self, checkpoint, policy):
        super().__init__()
        self.checkpoint, self.policy = checkpoint, policy

    def _on_step(self) -> bool:
        self.checkpoint(self.policy)
        return True


def latent_ac(make_env, budget: int, seed: int, *, checkpoint=None, logdir=None):
    """The latent actor-critic (`wmgym.bench.latent_ac.train`) with its default settings."""
    from wmgym.bench.latent_ac import train

    return train(make_env, budget, seed, checkpoint=checkpoint, logdir=logdir)


BUILTIN = {"ppo": ppo, "sac": sac, "latent_ac": latent_ac}
assert tuple(BUILTIN) == BUILTIN_AGENTS


def min_budget(name: str) -> int:
    """The smallest budget an agent can train on (one PPO rollout, one imagined batch); 1 for your own."""
    if name == "ppo":
        return PPOConfig().n_steps
    if name == "latent_ac":
        from wmgym.bench.latent_ac import LatentACConfig

        return LatentACConfig().batch * LatentACConfig().horizon
    return 1


def resolve_agent(name: str) -> Callable:
    """The function of a built-in agent or of ``module:function``, with a clear error if there is none."""
    check_agent_name(name)
    if name in BUILTIN:
        return BUILTIN[name]
    module, _, func = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        raise ValueError(
            f"agent {name!r}: cannot import module {module!r} ({e}); install it or put its folder on PYTHONPATH"
        ) from None
    except AttributeError:
        raise ValueError(f"agent {name!r}: module {module!r} has no function {func!r}") from None
    if not callable(fn):
        raise ValueError(f"agent {name!r}: {func!r} is not a function")
    return fn


def call_agent(fn: Callable, make_env, budget: int, seed: int, checkpoint, logdir: str):
    """Call an agent, passing the optional keywords only to a function that takes them."""
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in (("checkpoint", checkpoint), ("logdir", logdir)) if takes_any or k in params}
    policy = fn(make_env, budget, seed, **extra)
    if not callable(policy):
        raise TypeError(f"agent {fn.__module__}.{fn.__name__} returned {type(policy).__name__}, not a policy callable")
    return policy
