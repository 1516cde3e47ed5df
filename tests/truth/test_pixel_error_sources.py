"""benchmarks/pixel_error_sources.py: a reacher state maps back to the pose MuJoCo draws."""

import numpy as np
import pytest

from wmgym.tasks import get_task
from wmgym.truth import TruthEnv


@pytest.fixture(scope="module")
def sources(benchmark_script):
    return benchmark_script("pixel_error_sources")


def test_a_true_reacher_state_is_drawn_as_the_frame_mujoco_rendered(sources):
    env = TruthEnv("reacher")
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    states, frames = [obs["state"]], [obs["pixels"]]
    for _ in range(6):
        obs = env.step(rng.uniform(-1, 1, 2).astype(np.float32))[0]
        states.append(obs["state"])
        frames.append(obs["pixels"])
    qpos = env.data.qpos.copy()
    env.close()
    np.testing.assert_allclose(sources.reacher_qpos(states[-1]), qpos, atol=1e-6)
    drawn = sources.draw_states(get_task("reacher"), np.stack(states)[None])
    # velocities do not show in a frame; the observation's float32 pose moves an edge pixel by a level or two
    diff = np.abs(drawn[0].astype(int) - np.stack(frames).astype(int))
    assert diff.max() <= 2 and (diff > 0).mean() < 1e-3


def test_another_tasks_model_is_refused_with_the_reason(sources, tmp_path):
    with pytest.raises(SystemExit, match="reacher only"):
        sources.main(model="pusher", results=tmp_path)
    assert not any(tmp_path.iterdir())
