"""benchmarks/dynamics_data.py: its data plan scaling, its open-loop error and trust rule."""

import numpy as np
import pytest
import torch

from wmgym.model.ensemble import EnsembleWorldModel
from wmgym.model.ensemble_config import ensemble_debug


@pytest.fixture(scope="module")
def pilot(benchmark_script):
    return benchmark_script("dynamics_data")


def test_trust_is_the_steps_the_median_stays_inside_from_the_first(pilot):
    assert pilot.trust_horizon(np.array([0.01, 0.02, 0.05, 0.01]), 0.03) == 2  # not back inside later
    assert pilot.trust_horizon(np.array([0.04, 0.01]), 0.03) == 0
    assert pilot.trust_horizon(np.full(50, 0.01), 0.03) == 50


def test_the_plan_is_scaled_to_the_frames_asked_with_its_proportions(pilot):
    eps = pilot.plan_episodes("reacher", None, 3 * 4 * 51, seed=0)  # reacher: 330/330/320 episodes of 50 steps
    assert len(eps) == 12 and all(s.shape == (51, 10) and a.shape == (50, 2) for s, a in eps)


def test_a_model_that_predicts_no_change_errs_by_how_far_the_truth_moved(pilot):
    eps = pilot.state_episodes("reacher", "ou-noise", 3, 0.0, seed=1)
    model = EnsembleWorldModel(ensemble_debug(state_dim=10, action_dim=2))
    torch.nn.init.zeros_(model.dynamics.out.weight)
    torch.nn.init.zeros_(model.dynamics.out.bias)
    err = pilot.open_loop_errors("reacher", model.eval(), eps, horizon=20)["fingertip - target"]
    k = pilot.CONTEXT
    want = np.stack([np.linalg.norm(s[k + 1 : k + 21, 8:10] - s[k, 8:10], axis=-1) for s, _ in eps])
    np.testing.assert_allclose(err, want, atol=1e-5)


def test_variants_change_only_the_named_sizes(pilot):
    assert pilot.parse_variant("") == {}
    assert pilot.parse_variant("horizon=15,hidden=512") == {"horizon": 15, "hidden": 512}
    assert pilot.parse_variant("horizon=31,seq_len=32,batch=16") == {"horizon": 31, "seq_len": 32, "batch": 16}
    with pytest.raises(ValueError, match="key=value pairs of horizon, hidden"):
        pilot.parse_variant("lr=0.1")
