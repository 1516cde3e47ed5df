import json
import os
import signal
import subprocess
import sys
import time

import minari
import numpy as np
import pytest
from minari.dataset.minari_storage import MinariStorage

from wmgym.cli import main as cli
from wmgym.data import DatasetExistsError, collect, episode_seed, load_episodes
from wmgym.data.store import open_for_append
from wmgym.truth import TruthEnv


def _episodes(path):
    return list(minari.MinariDataset(path / "data").iterate_episodes())


def test_minari_reads_back_what_the_env_rendered(tmp_path):
    assert cli(["collect", "--task", "reacher", "--episodes", "2", "--out", str(tmp_path / "d"), "--workers", "1"]) == 0
    eps = _episodes(tmp_path / "d")
    assert len(eps) == 2
    env = TruthEnv("reacher")
    for i, ep in enumerate(eps):
        pixels = ep.observations["pixels"]
        assert pixels.shape == (51, 64, 64, 3) and pixels.dtype == np.uint8
        obs, _ = env.reset(seed=episode_seed(0, i))
        np.testing.assert_array_equal(obs["pixels"], pixels[0])
        for t, action in enumerate(ep.actions):  # the env, re-run with the recorded actions, renders the same
            obs, *_ = env.step(action)
            np.testing.assert_array_equal(obs["pixels"], pixels[t + 1])
    # any stored physics state, restored into a fresh env, reproduces the recorded next frame
    replay = TruthEnv("reacher")
    replay.reset(seed=99)
    ep = eps[1]
    for t in [0, 17, 49]:
        replay.set_physics_state(ep.infos["physics_state"][t])
        obs, *_ = replay.step(ep.actions[t])
        np.testing.assert_array_equal(obs["pixels"], ep.observations["pixels"][t + 1])
        np.testing.assert_array_equal(obs["state"], ep.observations["state"][t + 1])


def test_collection_is_reproducible_and_independent_of_workers(tmp_path):
    collect("inverted_pendulum", 4, tmp_path / "a", policy="ou-noise", seed=3, workers=1, progress=False)
    collect("inverted_pendulum", 4, tmp_path / "b", policy="ou-noise", seed=3, workers=2, progress=False)
    collect("inverted_pendulum", 4, tmp_path / "c", policy="ou-noise", seed=4, workers=1, progress=False)
    a, b, c = (load_episodes(tmp_path / x)[1] for x in "abc")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.pixels, y.pixels)
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.physics_state, y.physics_state)
    assert not np.array_equal(a[0].actions[:3], c[0].actions[:3])


def _start(out, episodes=500):
    cmd = [
        sys.executable,
        "-m",
        "wmgym.cli",
        "collect",
        "--task",
        "reacher",
        "--episodes",
        str(episodes),
        "--out",
        str(out),
        "--workers",
        "1",
        "--policy",
        "ou-noise",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_episodes(out, n, proc, timeout=120):
    """Until episode n-1 is finished on disk: its metadata.json (written last) is whole. The file
    exists from its first byte on, so a kill right after it appears can tear it, and that episode is
    then rightly dropped on resume (it failed this test once under load, as done == n - 1)."""
    deadline = time.time() + timeout
    while not _finished(out / "data" / str(n - 1) / "metadata.json"):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "collection made no progress"
        time.sleep(0.05)


def _finished(meta) -> bool:
    try:
        return "total_steps" in json.loads(meta.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_collection_keeps_finished_episodes_and_resumes(tmp_path, sig):
    out = tmp_path / "d"
    proc = _start(out)
    _wait_for_episodes(out, 3, proc)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "run the same command again to resume" in err
    eps = _episodes(out) if sig == signal.SIGINT else None
    _, done = open_for_append(out)  # repairs what a SIGKILL may have left half-written
    assert done >= 3
    if eps is not None:
        assert len(eps) == done
    # resume to done + 2 episodes: must equal a collection that was never interrupted
    collect("reacher", done + 2, out, policy="ou-noise", workers=1, progress=False)
    collect("reacher", done + 2, tmp_path / "ref", policy="ou-noise", workers=1, progress=False)
    got, ref = load_episodes(out)[1], load_episodes(tmp_path / "ref")[1]
    assert len(got) == len(ref) == done + 2
    for x, y in zip(got, ref, strict=True):
        np.testing.assert_array_equal(x.pixels, y.pixels)
        np.testing.assert_array_equal(x.physics_state, y.physics_state)


def test_an_interrupt_that_a_library_wraps_still_stops_cleanly(tmp_path, monkeypatch):
    """Under load, Ctrl-C once landed in ctypes' argument conversion for EGL, which re-raised it as
    `ctypes.ArgumentError: argument 1: KeyboardInterrupt` and the collection exited 1."""
    import ctypes

    from wmgym.data import collection

    real = collection._run_episode

    def run_episode(seed_index):
        if seed_index[1] == 2:
            try:
                signal.raise_signal(signal.SIGINT)  # collect's handler raises KeyboardInterrupt here
            except KeyboardInterrupt as e:
                raise ctypes.ArgumentError("argument 1: KeyboardInterrupt: ") from e
        return real(seed_index)

    monkeypatch.setattr(collection, "_run_episode", run_episode)
    result = collect("reacher", 5, tmp_path / "d", workers=1, progress=False)
    assert result.interrupted and result.episodes == 2
    assert len(load_episodes(tmp_path / "d")[1]) == 2
    monkeypatch.setattr(collection, "_run_episode", real)
    with pytest.raises(ctypes.ArgumentError):  # without a signal, an error is an error
        monkeypatch.setattr(
            collection, "_run_episode", lambda si: (_ for _ in ()).throw(ctypes.ArgumentError("argument 1"))
        )
        collect("reacher", 5, tmp_path / "d", workers=1, progress=False)


def test_half_written_episode_and_torn_metadata_are_repaired(tmp_path):
    out = tmp_path / "d"
    collect("reacher", 2, out, workers=1, progress=False)
    (out / "data" / "2").mkdir()  # data of a third episode, killed before its metadata.json
    (out / "data" / "2" / "part-0.arrow").write_bytes(b"\x00" * 10)
    (out / "data" / "metadata.json").write_text('{"total_episodes": 3, "tot')
    _, done = open_for_append(out)
    assert done == 2
    assert not (out / "data" / "2").exists()
    assert len(_episodes(out)) == 2
    assert json.loads((out / "data" / "metadata.json").read_text())["total_steps"] == 100


def test_rerun_of_a_complete_collection_changes_nothing(tmp_path):
    out = tmp_path / "d"
    collect("reacher", 2, out, workers=1, progress=False)
    before = sorted(p.stat().st_mtime_ns for p in out.rglob("*.arrow"))
    result = collect("reacher", 2, out, workers=1, progress=False)
    assert result.new_episodes == 0 and result.episodes == 2
    assert sorted(p.stat().st_mtime_ns for p in out.rglob("*.arrow")) == before


def test_recorded_dataset_size_is_minaris_own_count_after_a_resume(tmp_path):
    # wmgym keeps Minari's dataset_size as a running total (Minari recounts every file per episode)
    out = tmp_path / "d"
    collect("inverted_pendulum", 3, out, pixels=False, workers=1, progress=False)
    collect("inverted_pendulum", 40, out, pixels=False, workers=1, progress=False)
    recorded = json.loads((out / "data" / "metadata.json").read_text())["dataset_size"]
    full = MinariStorage.read(out / "data").get_size()
    assert recorded == full and full > 0


def test_sb3_policy_collects_with_its_own_actions(tmp_path):
    import gymnasium as gym
    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", gym.make("Reacher-v5"), policy_kwargs={"net_arch": [8]}, seed=0)
    model.save(tmp_path / "sac.zip")
    collect("reacher", 1, tmp_path / "d", policy=str(tmp_path / "sac.zip"), workers=1, progress=False)
    _, (ep,) = load_episodes(tmp_path / "d")
    expected, _ = model.predict(ep.state[:5], deterministic=True)
    np.testing.assert_allclose(ep.actions[:5], np.clip(expected, -1, 1), rtol=1e-5, atol=1e-6)
    # another policy saved under the same file name must not resume (and mix into) this collection
    SAC("MlpPolicy", gym.make("Reacher-v5"), policy_kwargs={"net_arch": [8]}, seed=1).save(tmp_path / "sac.zip")
    with pytest.raises(DatasetExistsError, match="sha256"):
        collect("reacher", 2, tmp_path / "d", policy=str(tmp_path / "sac.zip"), workers=1, progress=False)
    assert len(load_episodes(tmp_path / "d")[1]) == 1


def test_bad_inputs_give_clear_errors_and_overwrite_nothing(tmp_path, capsys):
    def run(*args):
        code = cli(["collect", "--workers", "1", *args])
        return code, capsys.readouterr().err

    code, err = run("--task", "reachr", "--episodes", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown task 'reachr'" in err and "reacher" in err
    code, err = run("--task", "reacher", "--episodes", "1", "--out", str(tmp_path / "x"), "--policy", "nope.zip")
    assert code == 2 and "not found" in err
    (tmp_path / "junk.zip").write_text("not a zip")
    code, err = run(
        "--task", "reacher", "--episodes", "1", "--out", str(tmp_path / "x"), "--policy", str(tmp_path / "junk.zip")
    )
    assert code == 2 and "not a stable-baselines3 model" in err
    code, err = run("--task", "reacher", "--episodes", "1", "--out", str(tmp_path / "x"), "--policy", "greedy")
    assert code == 2 and "unknown policy" in err
    assert not (tmp_path / "x").exists(), "a refused collection must not create --out"

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    code, err = run("--task", "reacher", "--episodes", "1", "--out", str(busy))
    assert code == 2 and "not empty" in err
    assert (busy / "notes.txt").read_text() == "keep me" and len(list(busy.iterdir())) == 1

    collect("reacher", 1, tmp_path / "d", workers=1, progress=False)
    with pytest.raises(DatasetExistsError, match="policy='random'"):
        collect("reacher", 2, tmp_path / "d", policy="ou-noise", workers=1, progress=False)
    with pytest.raises(DatasetExistsError, match="task='reacher'"):
        collect("pusher", 2, tmp_path / "d", workers=1, progress=False)
    assert len(_episodes(tmp_path / "d")) == 1


def test_episodes_start_from_given_physics_states(tmp_path):
    env = TruthEnv("reacher", obs_mode="state")
    starts = []
    for s in (3, 4):
        env.reset(seed=s)
        for _ in range(5):
            env.step(env.action_space.sample())
        starts.append(env.get_physics_state())
    starts = np.array(starts)
    collect("reacher", 3, tmp_path / "d", policy="zero", workers=1, progress=False, start_states=starts)
    _, eps = load_episodes(tmp_path / "d")
    for i, ep in enumerate(eps):
        np.testing.assert_array_equal(ep.physics_state[0], starts[i % 2])
    with pytest.raises(DatasetExistsError):  # other starts are another collection
        collect("reacher", 4, tmp_path / "d", policy="zero", workers=1, progress=False, start_states=starts[::-1])
    with pytest.raises(ValueError, match="physics state for task 'reacher'"):
        collect("reacher", 1, tmp_path / "e", policy="zero", progress=False, start_states=starts[:, :-1])


def test_a_signal_while_an_episode_is_written_waits_for_the_write_to_finish():
    """The race behind a flaky resume test: SIGINT between an episode's files and Minari's count."""
    from wmgym.data.collection import _signals_as_interrupt

    written = []
    with _signals_as_interrupt() as signals:
        with pytest.raises(KeyboardInterrupt), signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            written.append("episode")  # still runs: the interrupt is held
        assert written == ["episode"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # outside a write: at once


def test_a_dataset_resumes_after_the_spec_gains_fields_that_are_not_compared(tmp_path):
    """Datasets store their TaskSpec as JSON; a later wmgym may add uncompared fields (a reference
    score, a termination rule): the collection still resumes."""
    out = tmp_path / "d"
    collect("reacher", 1, out, workers=1, progress=False)
    record = json.loads((out / "wmgym.json").read_text())
    for key in ("reference", "proprio", "termination"):
        record["task"].pop(key, None)
    (out / "wmgym.json").write_text(json.dumps(record))
    assert collect("reacher", 2, out, workers=1, progress=False).episodes == 2


UNGUARDED = """
from wmgym.data import collect

def run():
    collect("reacher", episodes=2, out="d", policy="ou-noise", workers=2)

run()
"""


def test_workers_called_from_an_unguarded_script_fail_at_once_naming_the_guard(tmp_path):
    # spawned workers run the script's top level again: multiprocessing.Pool then restarts them forever
    (tmp_path / "script.py").write_text(UNGUARDED)
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert 'outside `if __name__ == "__main__":`' in done.stderr and "script.py (line 7)" in done.stderr
    assert not (tmp_path / "d").exists()
    guarded = UNGUARDED.replace("\nrun()", '\nif __name__ == "__main__":\n    run()')
    (tmp_path / "script.py").write_text(guarded.replace("workers=2)", "workers=2, progress=False)"))
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(_episodes(tmp_path / "d")) == 2
