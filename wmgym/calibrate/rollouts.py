"""Paired rollouts in batches: truth episodes (rendered, or states only through `wmgym.physics`) and
the dream's open-loop prediction of the same actions from the same start.

Every truth episode is `wmgym.episode.run_episode` with a `wmgym.policies.make_policy` policy, and
every open-loop prediction is `WorldModel.open_loop`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from wmgym.episode import Episode, run_episode
from wmgym.model import WorldModel
from wmgym.model.context import ContextBank
from wmgym.physics import BatchedTruth
from wmgym.policies import make_policy, policy_label
from wmgym.tasks import TaskSpec
from wmgym.truth import TruthEnv


@dataclass
class TruthBatch:
    """N truth episodes: K context steps, then H paired steps. Arrays, N first:

    ``pixels`` uint8 (N, K+1+H, h, w, 3), ``state`` (N, K+1+H, S), ``action`` (N, K+H, A),
    ``reward`` and ``terminated`` (N, K+H) (of the step that action t took), ``valid`` (N, H) (the
    episode had not ended before that paired step), ``moving`` bool (N, H, h, w) (pixels of moving
    bodies' geoms), ``start_physics`` (N, n) (MuJoCo state at the last context frame), ``source``."""

    pixels: np.ndarray
    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    valid: np.ndarray
    moving: np.ndarray
    start_physics: np.ndarray
    source: list[str]
    context: int

    def __len__(self) -> int:
        return len(self.pixels)

    def context_bank(self) -> ContextBank:
        k = self.context
        return ContextBank(self.pixels[:, : k + 1], self.action[:, :k].astype(np.float32), self.state[:, : k + 1])

    @staticmethod
    def concat(batches: list[TruthBatch]) -> TruthBatch:
        out = {}
        for f in ("pixels", "state", "action", "reward", "terminated", "valid", "moving", "start_physics"):
            out[f] = np.concatenate([getattr(b, f) for b in batches])
        return TruthBatch(**out, source=sum((b.source for b in batches), []), context=batches[0].context)


def episodes_past_context(env, policy, n: int, seed: int, context: int, progress=None, **kwargs) -> Iterator[Episode]:
    """Yield ``n`` episodes of ``policy`` (`run_episode` with ``kwargs``) from seeds ``seed``,
    ``seed + 1``, ...: those that last beyond the ``context`` steps (one that ends sooner is skipped
    and the next seed tried). Each is yielded before the next starts, so the policy's state is
    still that episode's.

    Raises:
        RuntimeError: the policy ends nearly every episode within the context.
    """
    kept, tried = 0, 0
    while kept < n:
        if tried > 20 * n + 20:
            raise RuntimeError(
                f"policy {getattr(policy, 'name', policy)!r} ended {tried - kept} of {tried} episodes of "
                f"{env.task_spec.name!r} within the {context} context steps; use a shorter context or another policy"
            )
        ep = run_episode(env, policy, seed + tried, **kwargs)
        tried += 1
        if len(ep) >= context and not ep.terminated[:context].any():
            kept += 1
            if progress is not None:
                progress.update(1)
            yield ep


def record_truth(
    task: TaskSpec,
    policy: str,
    episodes: int,
    seed: int,
    context: int,
    horizon: int,
    progress=None,
    perturbation=None,
) -> TruthBatch:
    """Run ``policy`` closed loop in the rendered truth env (of the ``perturbation`` robot, if given):
    ``episodes`` episodes that last at least the ``context`` steps (an episode that ends sooner is
    skipped and the next seed tried). The moving-body masks are rendered in the same env right after
    each episode, so they see that episode's camera."""
    spec = task.replace(episode_length=context + horizon)
    env = TruthEnv(spec, perturbation=perturbation)
    moving_geoms = np.flatnonzero(env.model.geom_bodyid != 0)
    try:
        pol = make_policy(policy, env)
        eps = episodes_past_context(env, pol, episodes, seed, context, progress, physics=True)
        rows = [_truth_row(ep, env, moving_geoms, context, horizon) for ep in eps]
    finally:
        env.close()
    return TruthBatch(**_stack(rows), source=[policy_label(policy)] * len(rows), context=context)


def _truth_row(ep: Episode, seg_env: TruthEnv, moving_geoms, context: int, horizon: int) -> dict:
    """One rendered episode as a `TruthBatch` row: an episode that ended early is padded (last frame
    repeated, zero actions and rewards) and its steps after the end marked invalid."""
    n = context + horizon
    physics = _pad(ep.physics_state, n + 1)
    return {
        "pixels": _pad(ep.obs["pixels"], n + 1),
        "state": _pad(ep.obs["state"], n + 1).astype(np.float32),
        "action": _pad(ep.actions, n, fill=0),
        "reward": _pad(ep.rewards, n, fill=0),
        "terminated": _pad(ep.terminated, n, fill=False),
        "valid": context + np.arange(horizon) < len(ep),
        "moving": _moving(seg_env, physics[context + 1 :], moving_geoms),
        "start_physics": physics[context],
    }


def _pad(x: np.ndarray, n: int, fill=None) -> np.ndarray:
    """``x`` (T, ...) extended to ``n`` rows: its last row repeated, or ``fill``."""
    if len(x) >= n:
        return x
    shape = (n - len(x), *x.shape[1:])
    tail = np.broadcast_to(x[-1], shape) if fill is None else np.full(shape, fill, x.dtype)
    return np.concatenate([x, tail])


def _moving(seg_env: TruthEnv, physics_states: np.ndarray, moving_geoms: np.ndarray) -> np.ndarray:
    """(T, h, w) bool: the pixels of moving bodies' geoms at each physics state."""
    masks = []
    for s in physics_states:
        seg_env.set_physics_state(s)
        masks.append(np.isin(seg_env.render_segmentation(), moving_geoms))
    return np.stack(masks)


def _stack(rows: list[dict]) -> dict:
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def truth_from_dataset(task: TaskSpec, episodes, context: int, horizon: int, perturbation=None) -> TruthBatch:
    """Held-out dataset episodes (`wmgym.data.load_episodes`) long enough for context + horizon; a
    dataset of a perturbed robot needs its ``perturbation`` (for its model and camera)."""
    usable = [ep for ep in episodes if len(ep) >= context + horizon]
    if not usable:
        raise ValueError(f"no dataset episode has the {context + horizon} steps that context + horizon need")
    env = TruthEnv(task, obs_mode="state", perturbation=perturbation)
    moving_geoms = np.flatnonzero(env.model.geom_bodyid != 0)
    n = context + horizon
    rows = [
        {
            "pixels": ep.pixels[: n + 1],
            "state": ep.state[: n + 1].astype(np.float32),
            "action": ep.actions[:n].astype(np.float32),
            "reward": ep.rewards[:n].astype(np.float32),
            "terminated": ep.terminations[:n].astype(bool),
            "valid": np.ones(horizon, bool),
            "moving": _moving(env, ep.physics_state[context + 1 : n + 1], moving_geoms),
            "start_physics": ep.physics_state[context],
        }
        for ep in usable
    ]
    env.close()
    return TruthBatch(**_stack(rows), source=["dataset"] * len(rows), context=context)


def state_sweep_truth(
    task: TaskSpec,
    policy: str,
    episodes: int,
    seed: int,
    context: int,
    horizon: int,
    backend: str = "auto",
    perturbation=None,
) -> dict:
    """Many more open-loop pairs, states only: render just the context frames, then roll the
    (state-independent) behaviour policy's actions out through ``mujoco.rollout`` in one batch.
    A ``perturbation`` that batched rollouts cannot simulate (delays, sensor noise, values drawn per
    episode) is stepped in its env instead (`stepped_sweep_truth`).

    Returns ``context`` (a `ContextBank`), ``action`` (N, H, A), ``state`` (N, H, S) and
    ``start_physics`` (N, n), the MuJoCo state at the last context frame, and ``valid`` (N, H): the
    steps up to and including the one where the episode would have terminated."""
    env = TruthEnv(task.replace(episode_length=context + horizon), perturbation=perturbation)
    if env.perturbation is not None and not env.perturbation.physics_only:
        env.close()
        return stepped_sweep_truth(task, policy, episodes, seed, context, horizon, perturbation)
    try:
        pol = make_policy(policy, env)
        eps, future = [], []
        for ep in episodes_past_context(env, pol, episodes, seed, context, steps=context, physics=True):
            eps.append(ep)
            future.append(_draw_actions(pol, ep, horizon))
    finally:
        env.close()
    starts, actions = np.stack([ep.physics_state[-1] for ep in eps]), np.stack(future)
    out = BatchedTruth(task, perturbation).rollout(starts, actions, backend=backend)
    return {
        "context": context_bank(eps, context),
        "action": actions,
        "state": out["state"],
        "valid": _until_terminated(out["terminated"]),
        "start_physics": starts,
    }


def stepped_sweep_truth(
    task: TaskSpec, policy: str, episodes: int, seed: int, context: int, horizon: int, perturbation
) -> dict:
    """`state_sweep_truth`'s pairs by stepping the (perturbed) env itself, states only (its frames are
    rendered for the context alone): delays and sensor noise act as they do on the robot."""
    n = context + horizon
    env = TruthEnv(task.replace(episode_length=n), obs_mode="state", render_mode="rgb_array", perturbation=perturbation)
    try:
        pol = make_policy(policy, env)
        eps = list(episodes_past_context(env, pol, episodes, seed, context, frames=context + 1, physics=True))
    finally:
        env.close()
    return {
        "context": context_bank(eps, context),
        "action": np.stack([_pad(ep.actions[context:], horizon, fill=0) for ep in eps]).astype(np.float32),
        "state": np.stack([_pad(ep.obs[context + 1 :], horizon) for ep in eps]).astype(np.float32),
        "valid": np.stack([context + np.arange(horizon) < len(ep) for ep in eps]),
        "start_physics": np.stack([ep.physics_state[context] for ep in eps]),
    }


def _draw_actions(policy, ep: Episode, horizon: int) -> np.ndarray:
    """The next ``horizon`` actions of a state-independent policy, drawn in advance after ``ep``."""
    last = {k: v[-1] for k, v in ep.obs.items()} if isinstance(ep.obs, dict) else ep.obs[-1]
    return np.stack([np.asarray(policy(last), np.float32) for _ in range(horizon)])


def context_bank(eps: list[Episode], context: int) -> ContextBank:
    """The first ``context`` steps of each episode as real starts for the dream: frames from its
    ``pixels`` observations, or from the ``frames`` it rendered (a state-observation env)."""
    k = context
    pixels = np.stack([(ep.key("pixels") if ep.frames is None else ep.frames)[: k + 1] for ep in eps])
    state = np.stack([ep.key("state")[: k + 1] for ep in eps]).astype(np.float32)
    return ContextBank(pixels, np.stack([ep.actions[:k] for ep in eps]), state)


def state_sweep(
    task: TaskSpec,
    behaviours,
    episodes: int,
    seed: int,
    context: int,
    horizon: int,
    backend: str = "auto",
    perturbation=None,
) -> dict:
    """`state_sweep_truth` for each behaviour policy (``episodes`` split evenly, seeds ``seed + 1000 i``),
    concatenated: ``context`` (one `ContextBank`), ``action``, ``state``, ``valid``, ``start_physics``."""
    per = episodes // len(behaviours)
    parts = [
        state_sweep_truth(task, b, per, seed + 1000 * i, context, horizon, backend, perturbation)
        for i, b in enumerate(behaviours)
    ]
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("action", "state", "valid", "start_physics")}
    banks = [p["context"] for p in parts]
    out["context"] = ContextBank(
        *(np.concatenate([getattr(b, f) for b in banks]) for f in ("pixels", "actions", "state"))
    )
    return out


def _until_terminated(terminated: np.ndarray) -> np.ndarray:
    """True up to and including the first terminal step of each row."""
    before = np.cumsum(terminated, axis=1) - terminated  # terminations strictly before each step
    return before == 0


def dream_open_loop(model: WorldModel, bank: ContextBank, actions: np.ndarray, pixels: bool = True, chunk: int = 64):
    """The model's open-loop prediction after each context in ``bank`` for ``actions`` (N, H, A), in
    chunks of ``chunk`` rollouts: numpy arrays from `WorldModel.open_loop`."""
    device = model.state_mean.device
    outs = []
    for lo in range(0, len(bank), chunk):
        idx = np.arange(lo, min(lo + chunk, len(bank)))
        rows = {k: torch.as_tensor(v, device=device) for k, v in bank.rows(idx).items()}
        future = torch.as_tensor(actions[idx], dtype=torch.float32, device=device)
        outs.append({k: v.cpu().numpy() for k, v in model.open_loop(rows, future, pixels=pixels).items()})
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
