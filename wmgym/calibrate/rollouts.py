"""Paired rollouts in batches: truth episodes (rendered, or states only through `wmgym.physics`) and
the dream's open-loop prediction of the same actions from the same start."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from wmgym.policies import make_policy
from wmgym.model import WorldModel
from wmgym.model.context import ContextBank
from wmgym.physics import BatchedTruth
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


def policy_label(policy: str) -> str:
    """A short name for a policy string: ``random``, ``zero``, ``ou-noise``, ``sac_30k.zip@0.3``."""
    path, _, noise = policy.partition("@")
    name = path.rsplit("/", 1)[-1]
    return f"{name}@{noise}" if noise else name


def build_policy(policy: str, env):
    """``random`` | ``zero`` | ``ou-noise`` | an SB3 ``.zip`` with an optional ``@NOISE`` suffix."""
    path, _, noise = policy.partition("@")
    try:
        noise = float(noise) if noise else 0.0
    except ValueError:
        raise ValueError(f"policy {policy!r}: the part after '@' must be a noise level, e.g. model.zip@0.3") from None
    return make_policy(path, env, noise=noise)


def record_truth(
    task: TaskSpec, policy: str, episodes: int, seed: int, context: int, horizon: int, progress=None
) -> TruthBatch:
    """Run ``policy`` closed loop in the rendered truth env: ``episodes`` episodes that last at least
    the ``context`` steps (an episode that ends sooner is skipped and the next seed tried)."""
    spec = task.replace(episode_length=context + horizon)
    env = TruthEnv(spec)
    seg_env = TruthEnv(spec, obs_mode="state")
    moving_geoms = np.flatnonzero(env.model.geom_bodyid != 0)
    pol = build_policy(policy, env)
    rec, tried = [], 0
    try:
        while len(rec) < episodes:
            if tried > 20 * episodes + 20:
                raise RuntimeError(
                    f"policy {policy!r} ended {tried - len(rec)} of {tried} episodes of {task.name!r} within the "
                    f"{context} context steps; use a shorter context or another policy"
                )
            ep = _episode(env, seg_env, pol, seed + tried, context, horizon, moving_geoms)
            tried += 1
            if ep is not None:
                rec.append(ep)
                if progress is not None:
                    progress.update(1)
    finally:
        env.close()
        seg_env.close()
    batch = {k: np.stack([r[k] for r in rec]) for k in rec[0]}
    return TruthBatch(**batch, source=[policy_label(policy)] * len(rec), context=context)


def _episode(env, seg_env, policy, seed, context, horizon, moving_geoms) -> dict | None:
    obs, _ = env.reset(seed=seed)
    policy.reset(np.random.default_rng(seed))
    pixels, states, actions, rewards, terms, phys = [obs["pixels"]], [obs["state"]], [], [], [], [None]
    done = False
    for t in range(context + horizon):
        if done:  # pad after the end: repeat the last frame, mark invalid
            pixels.append(pixels[-1]), states.append(states[-1]), actions.append(np.zeros_like(actions[-1]))
            rewards.append(0.0), terms.append(False), phys.append(phys[-1])
            continue
        a = np.asarray(policy(obs), np.float32)
        obs, r, term, trunc, _ = env.step(a)
        pixels.append(obs["pixels"]), states.append(obs["state"]), actions.append(a)
        rewards.append(r), terms.append(term), phys.append(env.get_physics_state())
        if term and t < context:
            return None
        done = term or trunc
    valid = np.ones(horizon, bool)
    ends = np.flatnonzero(terms)
    if len(ends):
        valid[ends[0] - context + 1 :] = False
    moving = []
    for t in range(context + 1, context + 1 + horizon):
        seg_env.set_physics_state(phys[t])
        moving.append(np.isin(seg_env.render_segmentation(), moving_geoms))
    return {
        "pixels": np.stack(pixels),
        "state": np.stack(states).astype(np.float32),
        "action": np.stack(actions),
        "reward": np.asarray(rewards, np.float32),
        "terminated": np.asarray(terms, bool),
        "valid": valid,
        "moving": np.stack(moving),
        "start_physics": phys[context],
    }


def truth_from_dataset(task: TaskSpec, episodes, context: int, horizon: int) -> TruthBatch:
    """Held-out dataset episodes (`wmgym.data.load_episodes`) long enough for context + horizon."""
    usable = [ep for ep in episodes if len(ep) >= context + horizon]
    if not usable:
        raise ValueError(f"no dataset episode has the {context + horizon} steps that context + horizon need")
    env = TruthEnv(task, obs_mode="state")
    moving_geoms = np.flatnonzero(env.model.geom_bodyid != 0)
    rec = []
    for ep in usable:
        moving = []
        for t in range(context + 1, context + 1 + horizon):
            env.set_physics_state(ep.physics_state[t])
            moving.append(np.isin(env.render_segmentation(), moving_geoms))
        n = context + horizon
        rec.append(
            {
                "pixels": ep.pixels[: n + 1],
                "state": ep.state[: n + 1].astype(np.float32),
                "action": ep.actions[:n].astype(np.float32),
                "reward": ep.rewards[:n].astype(np.float32),
                "terminated": ep.terminations[:n].astype(bool),
                "valid": np.ones(horizon, bool),
                "moving": np.stack(moving),
                "start_physics": ep.physics_state[context],
            }
        )
    env.close()
    batch = {k: np.stack([r[k] for r in rec]) for k in rec[0]}
    return TruthBatch(**batch, source=["dataset"] * len(rec), context=context)


def state_sweep_truth(
    task: TaskSpec, policy: str, episodes: int, seed: int, context: int, horizon: int, backend: str = "auto"
) -> dict:
    """Many more open-loop pairs, states only: render just the context frames, then roll the
    (state-independent) behaviour policy's actions out through ``mujoco.rollout`` in one batch.

    Returns ``context`` (a `ContextBank`), ``action`` (N, H, A), ``state`` (N, H, S) and
    ``start_physics`` (N, n), the MuJoCo state at the last context frame, and ``valid`` (N, H): the
    steps up to and including the one where the episode would have terminated."""
    env = TruthEnv(task.replace(episode_length=context + horizon))
    pol = build_policy(policy, env)
    pix, sts, acts, starts, future = [], [], [], [], []
    s, tries = seed, 0
    while len(starts) < episodes and tries < 20 * episodes + 20:
        tries += 1
        obs, _ = env.reset(seed=s)
        pol.reset(np.random.default_rng(s))
        s += 1
        p, st, a, ok = [obs["pixels"]], [obs["state"]], [], True
        for _ in range(context):
            a.append(np.asarray(pol(obs), np.float32))
            obs, _, term, _, _ = env.step(a[-1])
            p.append(obs["pixels"]), st.append(obs["state"])
            ok &= not term
        if not ok:
            continue
        pix.append(np.stack(p)), sts.append(np.stack(st)), acts.append(np.stack(a))
        starts.append(env.get_physics_state())
        future.append(np.stack([np.asarray(pol(obs), np.float32) for _ in range(horizon)]))
    env.close()
    out = BatchedTruth(task).rollout(np.stack(starts), np.stack(future), backend=backend)
    return {
        "context": ContextBank(np.stack(pix), np.stack(acts), np.stack(sts).astype(np.float32)),
        "action": np.stack(future),
        "state": out["state"],
        "valid": _until_terminated(out["terminated"]),
        "start_physics": np.stack(starts),
    }


def state_sweep(
    task: TaskSpec, behaviours, episodes: int, seed: int, context: int, horizon: int, backend: str = "auto"
) -> dict:
    """`state_sweep_truth` for each behaviour policy (``episodes`` split evenly, seeds ``seed + 1000 i``),
    concatenated: ``context`` (one `ContextBank`), ``action``, ``state``, ``valid``, ``start_physics``."""
    parts = [
        state_sweep_truth(task, b, episodes // len(behaviours), seed + 1000 * i, context, horizon, backend)
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


def clone_policy(policy, n: int) -> list:
    """``n`` copies of a behaviour policy that share its (read-only) network but not its noise state."""
    return [copy.copy(policy) for _ in range(n)]
