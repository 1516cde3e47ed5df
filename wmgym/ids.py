"""The gymnasium ids of wmgym's envs, by task or zoo model (naming only: no gymnasium import)."""

from __future__ import annotations

from wmgym.tasks import get_task


def _base_name(task: str) -> str:
    spec = get_task(task)
    if not spec.has_truth:  # own recorded data: no MuJoCo env to name its ids after
        raise KeyError(f"task {spec.name!r} has no MuJoCo env, so no registered id; use wmgym.DreamEnv(model)")
    return spec.gym_id.rsplit("-v", 1)[0]


def truth_env_id(task: str) -> str:
    """The gymnasium id of a task's ground-truth env: ``reacher`` -> ``wmgym/Reacher-truth-v0``."""
    return f"wmgym/{_base_name(task)}-truth-v0"


def perturbed_truth_env_id(task: str, perturbation: str) -> str:
    """The id of a named "real robot" variant of a task: ``reacher``, ``strong-motors`` ->
    ``wmgym/Reacher-strong-motors-truth-v0`` (`wmgym.truth.variants`)."""
    return f"wmgym/{_base_name(task)}-{perturbation}-truth-v0"


def dream_env_id(model: str) -> str:
    """The gymnasium id of a zoo model's dream env: ``reacher`` -> ``wmgym/Reacher-v0``."""
    return f"wmgym/{_base_name(model)}-v0"
