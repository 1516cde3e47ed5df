"""The task layer: each task's termination rule is gymnasium's, restated once."""

import gymnasium as gym
import numpy as np
import pytest

from wmgym.tasks import TaskSpec, Termination, get_task, list_tasks


@pytest.mark.parametrize("task", [t for t in list_tasks() if get_task(t).terminates])
def test_the_termination_rule_agrees_with_gymnasium_at_every_step(task):
    spec = get_task(task)
    env = gym.make(spec.gym_id, **dict(spec.env_kwargs))
    ends = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for _ in range(200):
            obs, _, terminated, truncated, _ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
            assert bool(spec.terminated(obs)) == terminated, (seed, obs)
            if terminated or truncated:
                ends += terminated
                break
    assert ends >= 10  # random actions end these episodes: the rule was exercised on both sides


def test_the_rule_is_vectorised_and_treats_non_finite_observations_as_terminal():
    rule = Termination(healthy=((1, -0.2, 0.2),))
    obs = np.array([[[0.0, 0.2, 0.0], [0.0, 0.21, 0.0]], [[np.nan, 0.0, 0.0], [0.0, -0.2, 1e9]]])
    np.testing.assert_array_equal(rule.terminated(obs), [[False, True], [True, False]])
    assert Termination(healthy=((0, 0.0, 1.0),), strict=True).terminated(np.array([1.0]))


def test_tasks_that_never_end_say_so_and_a_terminating_spec_without_a_rule_is_a_clear_error():
    reacher = get_task("reacher")
    assert not reacher.terminated(np.zeros((4, 10))).any()
    stored = TaskSpec.from_dict(get_task("hopper").to_dict() | {"termination": None})
    with pytest.raises(ValueError, match="states no rule"):
        stored.terminated(np.zeros(11))


def test_the_rule_round_trips_through_json_and_does_not_change_equality():
    spec = get_task("inverted_pendulum")
    back = TaskSpec.from_dict(spec.to_dict())
    assert back == spec and back.termination == spec.termination
    assert spec.replace(termination=None) == spec  # specs stored before the rule existed still match
