"""Training the policies a gap report compares: the same SB3 agent in a dream (nominal or adapted
world model) or in MuJoCo (nominal, or a perturbed robot: the oracle).

PPO's settings are those `wmgym demo` reaches 0.94 normalized with on reacher; SAC's those of
agents/sac_truth.py. A trained policy is saved with a sidecar ``.json`` of its recipe, and reused when
the same recipe is asked for again (an interrupted report resumes).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

ALGOS = ("ppo", "sac")
PPO_SETTINGS = {"n_steps": 64, "batch_size": 1024, "n_epochs": 5, "learning_rate": 1e-3, "gamma": 0.95}
"""PPO in `wmgym demo` (64 envs): 0.94 normalized in MuJoCo after 1M steps in the reacher dream."""
ENVS = 64
"""Envs PPO steps at once, in a dream (one batch) or in MuJoCo (a DummyVecEnv)."""


@dataclass(frozen=True)
class Recipe:
    """How one policy is trained: where, with which algorithm, for how long."""

    world: str
    """``dream`` (in the world model ``model``) or ``mujoco`` (in the task's MuJoCo, perturbed by
    ``perturbation`` if given)."""
    task: str
    algo: str = "ppo"
    steps: int = 300_000
    model: str | None = None
    """Zoo name or checkpoint folder, for ``world="dream"``."""
    model_digest: str | None = None
    """sha256 of the model's weights (`model_digest`), for ``world="dream"``: a policy trained in an
    earlier model at the same path (a robot re-adapted, a model retrained) is not reused."""
    perturbation: dict | None = None
    """`Perturbation.to_dict` of the robot, for ``world="mujoco"``; None: nominal MuJoCo."""
    seed: int = 0
    envs: int = ENVS
    """Envs PPO steps at once (each rollout is 64 steps of each)."""

    def __post_init__(self):
        if self.world not in ("dream", "mujoco"):
            raise ValueError(f"a policy is trained in 'dream' or 'mujoco', got {self.world!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.world == "dream" and (self.model is None or self.algo != "ppo"):
            raise ValueError("a dream policy needs a model, and is trained with PPO (batched envs)")
        for name in ("steps", "envs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"training {name} must be a whole number >= 1, got {getattr(self, name)!r}")


def train_policy(recipe: Recipe, out: Path, progress: bool = True, device: str = "cpu") -> Path:
    """Train ``recipe``'s policy and save it to ``out`` (a ``.zip``); reuse ``out`` if its sidecar
    says it was trained by the same recipe."""
    out = Path(out)
    sidecar = out.with_suffix(".json")
    if out.is_file() and sidecar.is_file() and json.loads(sidecar.read_text()) == _jsonable(recipe):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    venv = _dream_envs(recipe, device) if recipe.world == "dream" else _mujoco_envs(recipe)
    agent = _agent(recipe, venv)
    with _Bar(recipe, progress) as bar, _one_thread(device):
        agent.learn(recipe.steps, callback=bar.callback())
    agent.save(out)
    sidecar.write_text(json.dumps(_jsonable(recipe), indent=2) + "\n")
    venv.close()
    return out


def model_digest(model: str | Path) -> str:
    """sha256 of a zoo model's or checkpoint's weights file (``model.safetensors``)."""
    import hashlib

    from wmgym.zoo import resolve

    return hashlib.sha256((resolve(model) / "model.safetensors").read_bytes()).hexdigest()


def _jsonable(recipe: Recipe) -> dict:
    return json.loads(json.dumps(asdict(recipe)))


def _dream_envs(recipe: Recipe, device: str):
    from wmgym.dream.sb3 import sb3_vec_env

    venv = sb3_vec_env(recipe.model, n_envs=recipe.envs, device=device)
    venv.seed(recipe.seed)
    return venv


def _mujoco_envs(recipe: Recipe):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from wmgym.truth import TruthEnv

    n = recipe.envs if recipe.algo == "ppo" else 1

    def make():
        return TruthEnv(recipe.task, obs_mode="state", perturbation=recipe.perturbation)

    venv = DummyVecEnv([make] * n)
    venv.seed(recipe.seed)
    return venv


def _agent(recipe: Recipe, venv):
    import stable_baselines3 as sb3

    if recipe.algo == "ppo":
        settings = {
            **PPO_SETTINGS,
            "batch_size": min(PPO_SETTINGS["batch_size"], PPO_SETTINGS["n_steps"] * recipe.envs),
        }
        return sb3.PPO("MlpPolicy", venv, seed=recipe.seed, verbose=0, device="cpu", **settings)
    return sb3.SAC("MlpPolicy", venv, seed=recipe.seed, verbose=0, device="cpu", policy_kwargs={"net_arch": [128, 128]})


@contextmanager
def _one_thread(device: str):
    """One torch thread on CPU: PPO's small networks and batches gain nothing from more, and on busy
    cores a second thread that must be waited for made training 4-6x slower (measured: reacher PPO in
    MuJoCo 1.5k steps per CPU-second with torch's 2 threads, 6.6k with one)."""
    import torch

    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Bar:
    """A tqdm bar over an SB3 ``learn`` (SB3's own needs rich)."""

    def __init__(self, recipe: Recipe, progress: bool):
        robot = "" if recipe.perturbation is None else f" ({recipe.perturbation['name']})"
        where = f"the dream of {recipe.model}" if recipe.world == "dream" else f"MuJoCo{robot}"
        total = recipe.steps
        if recipe.algo == "ppo":  # PPO collects whole rollouts
            rollout = PPO_SETTINGS["n_steps"] * recipe.envs
            total = -(-recipe.steps // rollout) * rollout
        self.bar = tqdm(total=total, desc=f"{recipe.algo.upper()} in {where}", disable=not progress, unit="step")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def callback(self):
        from stable_baselines3.common.callbacks import BaseCallback

        bar = self.bar

        class Update(BaseCallback):
            def _on_step(self) -> bool:
                bar.update(self.training_env.num_envs)
                return True

        return Update()
