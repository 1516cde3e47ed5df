"""The benchmark's statistics on a fixed score matrix, against rliable's own functions."""

import numpy as np
import pytest

pytest.importorskip("rliable", reason="the benchmark's statistics need pip install 'wmgym[bench]'")

from rliable import library as rly  # noqa: E402
from rliable import metrics  # noqa: E402

from wmgym.bench import stats  # noqa: E402
from wmgym.metrics import mmrv  # noqa: E402
from wmgym.tasks import get_task, list_tasks  # noqa: E402

# 5 seeds x 3 tasks, normalized scores of two agents
SCORES = {
    "a": np.array([[0.1, 0.5, 0.9], [0.2, 0.4, 1.0], [0.0, 0.6, 0.8], [0.3, 0.5, 0.7], [0.15, 0.45, 0.95]]),
    "b": np.array([[0.3, 0.2, 0.6], [0.4, 0.1, 0.5], [0.2, 0.3, 0.7], [0.5, 0.2, 0.4], [0.35, 0.25, 0.55]]),
}


def test_normalized_scores_put_random_at_0_and_the_reference_at_1():
    ref = get_task("reacher").reference
    np.testing.assert_allclose(stats.normalize("reacher", [ref.random, ref.expert]), [0.0, 1.0])
    without = [t for t in list_tasks() if get_task(t).reference is None]
    if without:
        assert stats.normalize(without[0], [1.0]) is None


@pytest.mark.filterwarnings("ignore:random_state is deprecated:FutureWarning")
def test_aggregates_are_rliables_estimates_with_its_stratified_bootstrap():
    ours = stats.aggregates(SCORES, reps=300, seed=3)

    def func(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_optimality_gap(x)])

    np.random.seed(3)  # rliable's stratified draws come from numpy's global generator
    points, cis = rly.get_interval_estimates(SCORES, func, reps=300, random_state=np.random.RandomState(3))
    for agent in SCORES:
        assert ours[agent]["iqm"]["value"] == pytest.approx(metrics.aggregate_iqm(SCORES[agent]))
        for i, name in enumerate(stats.METRICS):
            assert ours[agent][name]["value"] == pytest.approx(points[agent][i])
            np.testing.assert_allclose(ours[agent][name]["ci"], cis[agent][:, i])
            lo, hi = ours[agent][name]["ci"]
            assert lo <= ours[agent][name]["value"] <= hi
    assert stats.aggregates(SCORES, reps=300, seed=3) == ours  # a fixed random state: repeatable


def test_profiles_and_probability_of_improvement_match_rliable():
    prof = stats.performance_profiles(SCORES, reps=100)
    taus = np.array(prof["taus"])
    points, _ = rly.create_performance_profile(SCORES, taus, reps=10)
    for agent in SCORES:
        np.testing.assert_allclose(prof["profiles"][agent]["value"], points[agent])
    poi = stats.improvement(SCORES, reps=200)
    assert poi["a,b"]["value"] == pytest.approx(metrics.probability_of_improvement(SCORES["a"], SCORES["b"]))
    assert poi["a,b"]["value"] + poi["b,a"]["value"] == pytest.approx(1.0)


def test_mmrv_counts_the_largest_real_gap_the_simulator_orders_wrongly():
    real = np.array([1.0, 2.0, 3.0])
    assert mmrv(real, real * 10) == 0.0
    # policies 1 and 2 swapped by the simulator: each of them sees one violation of size 1
    assert mmrv(real, np.array([1.0, 3.0, 2.0])) == pytest.approx(2 / 3)
    # everything reversed: max gaps 2, 1, 2
    assert mmrv(real, -real) == pytest.approx(5 / 3)
    assert np.isnan(mmrv([1.0], [1.0]))
