"""The same rollouts in MJX (JAX), vmapped over trajectories: for GPUs and TPUs.

Needs ``pip install 'wmgym[mjx]'`` (``mujoco-mjx`` of the same version as ``mujoco``, and JAX).
Runs in float64 so it agrees with MuJoCo's C engine to ~1e-6 over short horizons (MJX's solver
differs in detail; contacts make long horizons diverge, as between any two simulators).
"""

from __future__ import annotations

import mujoco
import numpy as np


def mjx_rollout(model: mujoco.MjModel, full: np.ndarray, control: np.ndarray) -> np.ndarray:
    """States (N, T, n) in ``mjSTATE_FULLPHYSICS`` layout after each of T MuJoCo steps.

    ``full`` (N, n) are the initial states, ``control`` (N, T, nu) the controls per step.
    """
    try:
        import jax
        from mujoco import mjx
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("backend='mjx' needs JAX and MJX: pip install 'wmgym[mjx]'") from e
    nq, nv, na = model.nq, model.nv, model.na
    with jax.enable_x64(True):
        mx = mjx.put_model(model)
        d0 = mjx.make_data(mx)

        def one(time, qpos, qvel, act, ctrl):
            def body(d, u):
                d = mjx.step(mx, d.replace(ctrl=u))
                return d, (d.time, d.qpos, d.qvel, d.act)

            d = d0.replace(time=time, qpos=qpos, qvel=qvel, act=act)
            return jax.lax.scan(body, d, ctrl)[1]

        time, qpos, qvel, act = jax.jit(jax.vmap(one))(
            full[:, 0],
            full[:, 1 : 1 + nq],
            full[:, 1 + nq : 1 + nq + nv],
            full[:, 1 + nq + nv : 1 + nq + nv + na],
            control,
        )
        time, qpos, qvel, act = (np.asarray(x, np.float64) for x in (time, qpos, qvel, act))
    # everything after time/qpos/qvel/act (mocap, user data, plugin state) is held constant
    out = np.repeat(full[:, None], control.shape[1], axis=1)
    out[..., 0] = time
    out[..., 1 : 1 + nq] = qpos
    out[..., 1 + nq : 1 + nq + nv] = qvel
    out[..., 1 + nq + nv : 1 + nq + nv + na] = act.reshape(*act.shape[:2], na)
    return out
