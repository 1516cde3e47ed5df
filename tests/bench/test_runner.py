"""`wmgym bench`: a user agent runs, runs resume, bad input is refused clearly, cells run on Ray.

Cells here use a trivial agent from a module written into a temporary folder, tiny budgets and
two evaluation episodes, in this process (``workers=0``), so each run takes seconds.
"""

import json
import textwrap

import numpy as np
import pytest

pytest.importorskip("rliable", reason="the benchmark's statistics need pip install 'wmgym[bench]'")

from wmgym.bench import cell as cell_module  # noqa: E402
from wmgym.bench import runner  # noqa: E402
from wmgym.bench.config import BenchConfig  # noqa: E402
from wmgym.bench.dream import BudgetExceeded  # noqa: E402
from wmgym.cli import main  # noqa: E402
from wmgym.errors import RunFolderError  # noqa: E402

AGENTS = textwrap.dedent(
    '''
    """Agents for the tests: they follow the documented signature."""
    import os

    import numpy as np


    def still(make_env, budget, seed, checkpoint=None):
        """Steps the dream with zero actions for its whole budget; the policy is the zero action."""
        env = make_env(8)
        env.reset(seed=seed)
        policy = lambda obs: np.zeros(env.single_action_space.shape, np.float32)
        for _ in range(budget // 8):
            env.step(np.zeros(env.action_space.shape, np.float32))
            if checkpoint is not None:
                checkpoint(policy)
        return policy


    def constant(make_env, budget, seed):
        """A constant action drawn from the seed (no training): returns that differ from seed to seed."""
        env = make_env(8)
        action = np.random.default_rng(seed).uniform(-0.5, 0.5, env.single_action_space.shape).astype(np.float32)
        env.reset(seed=seed)
        for _ in range(budget // 8):
            env.step(np.tile(action, (8, 1)))
        return lambda obs: action


    def greedy(make_env, budget, seed):
        """Spends more than its budget."""
        env = make_env(4)
        env.reset(seed=seed)
        while True:
            env.step(np.zeros(env.action_space.shape, np.float32))


    def crash(make_env, budget, seed):
        """Its worker dies (seed 1), as a machine that is lost would."""
        if seed == 1:
            os._exit(3)
        return still(make_env, budget, seed)
    '''
)


@pytest.fixture
def agents(tmp_path, monkeypatch):
    folder = tmp_path / "agents_src"
    folder.mkdir()
    (folder / "bench_test_agents.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))  # for spawned workers
    return "bench_test_agents"


def tiny(**changes) -> BenchConfig:
    base = dict(
        tasks=("reacher",),
        seeds=2,
        budget=64,
        eval_episodes=2,
        curve_points=2,
        curve_episodes=1,
        reps=50,
        workers=0,
        progress=False,
    )
    return BenchConfig(**{**base, **changes})


def test_a_user_agent_given_as_module_function_runs(tmp_path, agents):
    out = tmp_path / "run"
    results = runner.run_bench(out, tiny(agents=(f"{agents}:still",)))
    assert results["tasks"] == ["reacher"] and results["agents"] == [f"{agents}:still"] and results["seeds"] == [0, 1]
    cell = results["cells"][0]
    assert cell["dream_steps"] == 64 and len(cell["returns"]["nominal"]) == 2 and len(cell["dream_returns"]) == 2
    assert [p["steps"] for p in cell["curve"]] == [32, 64]  # it offered checkpoints: both curve points scored
    # the zero action in MuJoCo from the fixed starts: the same return whatever the seed trained
    assert results["cells"][0]["returns"] == results["cells"][1]["returns"]
    assert "iqm" in results["aggregates"][f"{agents}:still"]
    assert (out / "report.md").is_file() and (out / "per_task.png").is_file()
    assert list((out / "tensorboard" / cell["id"] / "bench").glob("events.out.tfevents.*"))
    assert json.loads((out / "results.json").read_text())["cells"][0]["id"] == cell["id"]


def test_a_rerun_skips_finished_cells_and_writes_the_same_results(tmp_path, agents, monkeypatch):
    out, cfg = tmp_path / "run", tiny(agents=(f"{agents}:constant",), seeds=3, reps=200)
    results = runner.run_bench(out, cfg)
    first = (out / "results.json").read_bytes()
    lo, hi = results["aggregates"][f"{agents}:constant"]["iqm"]["ci"]
    assert lo < hi  # the seeds differ, so the bootstrap's draws matter to the file
    ran = []
    real = cell_module.run_cell
    monkeypatch.setattr(cell_module, "run_cell", lambda c, report=None: ran.append(c.id) or real(c, report))
    runner.run_bench(out, cfg)
    assert ran == [] and (out / "results.json").read_bytes() == first
    # a run interrupted after its first cell: the second is run again, the first is kept
    (out / "cells" / "reacher__bench_test_agents-constant__seed1.json").unlink()
    (out / "results.json").unlink()
    runner.run_bench(out, cfg)
    assert ran == ["reacher__bench_test_agents-constant__seed1"]
    assert (out / "results.json").read_bytes() == first


def test_a_resumed_run_must_have_the_same_settings(tmp_path, agents):
    out = tmp_path / "run"
    runner.run_bench(out, tiny(agents=(f"{agents}:still",), seeds=1))
    with pytest.raises(RunFolderError, match="other settings"):
        runner.run_bench(out, tiny(agents=(f"{agents}:still",), seeds=1, budget=128))


def test_bad_input_is_refused_before_anything_runs(tmp_path, agents, monkeypatch):
    from wmgym.tasks import get_task, suite

    # a registered task that no zoo model covers (every built-in task has one now)
    monkeypatch.setitem(suite._TASKS, "unmodelled", get_task("reacher").replace(name="unmodelled"))
    with pytest.raises(ValueError, match="unknown agent 'dqn'"):
        tiny(agents=("dqn",))
    with pytest.raises(ValueError, match="budget must be a positive integer"):
        tiny(budget=0)
    with pytest.raises(ValueError, match="no world model in the zoo"):
        runner.run_bench(tmp_path / "a", tiny(tasks=("unmodelled",), agents=("ppo",)))
    with pytest.raises(ValueError, match="has no function 'nope'"):
        runner.run_bench(tmp_path / "b", tiny(agents=(f"{agents}:nope",)))
    with pytest.raises(ValueError, match="cannot import module"):
        runner.run_bench(tmp_path / "c", tiny(agents=("no_such_module_here:train",)))
    with pytest.raises(ValueError, match="too small for agent 'latent_ac'"):
        runner.run_bench(tmp_path / "d", tiny(agents=("latent_ac",)))
    with pytest.raises(KeyError, match="unknown task"):
        runner.run_bench(tmp_path / "e", tiny(tasks=("reacherr",), agents=("ppo",)))
    assert not any((tmp_path / n).exists() for n in "abcde")  # refused before the folder was made
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a `wmgym bench` run folder"):
        runner.run_bench(theirs, tiny(agents=(f"{agents}:still",)))


def test_an_agent_cannot_spend_more_than_its_budget(tmp_path, agents):
    with pytest.raises(BudgetExceeded, match="over its budget of 64"):
        runner.run_bench(tmp_path / "run", tiny(agents=(f"{agents}:greedy",), seeds=1))


def test_the_command_line_reports_bad_input_as_an_error(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path / "x"), "--agents", "dqn"]) == 2
    assert "unknown agent 'dqn'" in capsys.readouterr().err
    assert main(["bench", "--out", str(tmp_path / "x"), "--budget", "0"]) == 2
    assert "budget must be a positive integer" in capsys.readouterr().err


@pytest.mark.slow
def test_a_lost_worker_loses_only_its_cell(tmp_path, agents):
    out = tmp_path / "run"
    results = runner.run_bench(out, tiny(agents=(f"{agents}:crash",), workers=2))
    assert results["missing"] == ["reacher__bench_test_agents-crash__seed1"]
    assert "exit code 3" in results["failed"]["reacher__bench_test_agents-crash__seed1"]
    assert [c["seed"] for c in results["cells"]] == [0]
    assert "Incomplete" in (out / "report.md").read_text()


@pytest.mark.slow
def test_cells_run_on_a_local_ray_instance(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = runner.run_bench(tmp_path / "run", tiny(agents=("ppo",), budget=128, ray="auto"))
    finally:
        ray.shutdown()
    assert results["missing"] == [] and [c["seed"] for c in results["cells"]] == [0, 1]
    assert all(np.isfinite(c["returns"]["nominal"]).all() for c in results["cells"])
    assert list((tmp_path / "run" / "tensorboard").glob("*/agent/PPO_1/events.*"))


def test_policies_are_also_scored_in_perturbed_mujoco_worlds(tmp_path, agents):
    variants = pytest.importorskip("wmgym.truth.variants", reason="the sim-to-real perturbations are not in yet")
    world = variants.list_perturbations("reacher")[0]
    results = runner.run_bench(tmp_path / "run", tiny(agents=(f"{agents}:still",), worlds=("nominal", world)))
    assert set(results["worlds"]) == {"nominal", world}
    assert all(len(c["returns"][world]) == 2 for c in results["cells"])
    assert "aggregates" in results["worlds"][world]
    with pytest.raises(KeyError):  # refused before any cell runs
        runner.run_bench(tmp_path / "other", tiny(agents=(f"{agents}:still",), worlds=("nominal", "no-such-world")))
    assert not (tmp_path / "other").exists()
