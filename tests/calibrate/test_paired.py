import numpy as np

from wmgym.calibrate.paired import paired_rollout
from wmgym.dream import DreamEnv
from wmgym.truth import TruthEnv


def test_paired_rollout_starts_both_from_the_same_frames(dream_checkpoint):
    truth = TruthEnv("reacher")
    dream = DreamEnv(dream_checkpoint, render_mode="rgb_array")
    roll = paired_rollout(truth, dream, lambda s: np.array([0.3, -0.2], np.float32), seed=3, horizon=6)
    assert roll.truth_pixels.shape == roll.dream_pixels.shape == (7, 64, 64, 3)
    assert roll.truth_state.shape == roll.dream_state.shape == (7, 10)
    # the truth side really is MuJoCo from that seed: replaying the same actions reproduces it
    again = TruthEnv("reacher")
    obs, _ = again.reset(seed=3)
    for _ in range(4 + 6):
        obs, *_ = again.step(np.array([0.3, -0.2]))
    np.testing.assert_array_equal(obs["pixels"], roll.truth_pixels[-1])
