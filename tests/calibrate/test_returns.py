"""Policy-level calibration: returns in the dream from the truth's first frames, and their correlation."""

import numpy as np
import pytest
import torch

from wmgym.calibrate.returns import _dream_returns, correlation


class _Dream:
    """Two envs; env 0 terminates on its 2nd step, env 1 runs on. Reward 1 per step, as ``kind``."""

    num_envs = 2

    def __init__(self, kind):
        self.wrap, self.t = kind, 0

    def reset(self, seed=None, options=None):
        self.t = 0
        return self.wrap(np.zeros((2, 3), np.float32)), {}

    def step(self, actions):
        self.t += 1
        term = np.array([self.t == 2, False])
        return (
            self.wrap(np.full((2, 3), self.t, np.float32)),
            self.wrap(np.ones(2, np.float32)),
            self.wrap(term),
            self.wrap(np.zeros(2, bool)),
            {},
        )


class _Policy:
    def reset(self, rng):
        self.seen = []

    def __call__(self, obs):
        self.seen.append(obs)
        return np.zeros(2, np.float32)


@pytest.mark.parametrize("kind", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_dream_returns_count_each_env_until_it_ends_from_numpy_or_tensors(kind):
    policies = [_Policy(), _Policy()]
    total, length = _dream_returns(_Dream(kind), None, policies, seed=0, steps=5)
    np.testing.assert_array_equal(total, [2.0, 5.0])
    np.testing.assert_array_equal(length, [2, 5])  # env 0 ended on its 2nd step
    assert isinstance(policies[1].seen[0], np.ndarray) and policies[1].seen[0].shape == (3,)  # its own row


def test_returns_ranked_alike_correlate_with_tight_intervals():
    rng = np.random.default_rng(0)
    results = []
    for level in (0.0, 1.0, 2.0, 3.0):
        truth, dream = level + 0.01 * rng.standard_normal(20), 2 * level + 0.01 * rng.standard_normal(20)
        results.append({"truth": truth.mean(), "dream": dream.mean(), "truth_episodes": truth, "dream_episodes": dream})
    c = correlation(results, n_boot=200)
    assert c["policies"] == 4 and c["spearman"] == pytest.approx(1.0) and c["pearson"] == pytest.approx(1.0, abs=1e-4)
    assert c["spearman_ci95"] == [1.0, 1.0] and c["pearson_ci95"][0] > 0.99
    assert c["return_mae"] == pytest.approx(1.5, abs=0.01)  # dream returns are twice the truth's
    assert correlation(results, n_boot=200) == c  # seeded
