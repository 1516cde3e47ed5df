"""The run folder: only new, empty or wmgym run folders are written; one trainer at a time; a crash
mid-save loses nothing; a resume applies what may change and refuses what may not; a diverging run
stops before saving NaN."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny import tiny_config

from wmgym import checkpoint
from wmgym.checkpoint import load_model
from wmgym.cli import main as cli
from wmgym.data import collect
from wmgym.errors import CheckpointError, RunFolderError, TrainingDivergedError
from wmgym.train import train
from wmgym.train.run import LOCK


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def _step(ckpt: Path) -> int:
    return json.loads((ckpt / "config.json").read_text())["step"]


def _same_weights(a, b) -> None:
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, rtol=0, atol=0, msg=f"{k} differs")


@pytest.mark.parametrize("kind", ["own_config", "dataset", "checkpoint", "other_files"])
def test_a_folder_that_is_not_a_run_is_left_byte_identical(data, tmp_path, kind):
    out = tmp_path / "out"
    if kind == "own_config":
        out.mkdir()
        (out / "config.json").write_text('{"lr": 0.1, "notes": "mine"}')
    elif kind == "dataset":
        collect("reacher", 1, out, workers=1, progress=False)
    elif kind == "checkpoint":
        train([data], tmp_path / "run", tiny_config(steps=2), progress=False)
        (tmp_path / "run" / "checkpoint").rename(out)
    else:
        out.mkdir()
        (out / "results.csv").write_text("a,b\n1,2\n")
    before = _snapshot(out)
    with pytest.raises(RunFolderError, match="not a wmgym run folder.*nothing was written.*new or empty folder"):
        train([data], out, tiny_config(steps=2), progress=False)
    assert _snapshot(out) == before
    if kind == "checkpoint":
        with pytest.raises(RunFolderError, match="it is a checkpoint: to resume its run pass the run folder"):
            train([data], out, tiny_config(steps=2), progress=False)


def test_an_empty_or_missing_folder_starts_a_run_that_is_marked(data, tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "run"):
        train([data], out, tiny_config(steps=1), progress=False)
        assert json.loads((out / "config.json").read_text())[checkpoint.RUN_KEY] == 1
        assert checkpoint.is_run(out) and _step(out / "checkpoint") == 1


def test_a_second_trainer_on_the_same_folder_is_refused(data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(out / LOCK)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match=f"another wmgym train is using {out} \\(pid {holder.pid}\\)"):
            train([data], out, tiny_config(steps=1), progress=False)
    finally:
        holder.kill()
        holder.wait()
    train([data], out, tiny_config(steps=1), progress=False)  # released when its holder ends
    assert _step(out / "checkpoint") == 1


class _Crash(BaseException):
    """A kill, as far as the code under test can tell: no handler catches it."""


def _crash_on_rename_into_place(monkeypatch):
    real = os.replace

    def replace(src, dst):
        if Path(src).name == ".checkpoint.tmp":  # after checkpoint/ was renamed to .checkpoint.old
            raise _Crash
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("new_copy", ["complete", "damaged"])
def test_a_crash_between_the_two_renames_loses_nothing(data, tmp_path, monkeypatch, capsys, new_copy):
    """checkpoint/ -> .checkpoint.old happened, .checkpoint.tmp -> checkpoint/ did not. The complete
    new copy is rolled forward; a damaged one is dropped and the backup restored. Either way the
    resumed run continues from that copy's step and ends where an uninterrupted run does."""
    run = tmp_path / "run"
    train([data], run, tiny_config(steps=2, checkpoint_every=2, eval_every=100), progress=False)
    with monkeypatch.context() as m:
        _crash_on_rename_into_place(m)
        with pytest.raises(_Crash):
            train([data], run, tiny_config(steps=4, checkpoint_every=2, eval_every=100), progress=False)
    assert not (run / "checkpoint").exists()
    assert _step(run / ".checkpoint.old") == 2 and _step(run / ".checkpoint.tmp") == 4
    if new_copy == "damaged":
        weights = run / ".checkpoint.tmp" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-64] + bytes(64))
    expected = 4 if new_copy == "complete" else 2
    # a reader finds the right copy without renaming anything
    assert checkpoint.read_config(run)["step"] == expected and not (run / "checkpoint").exists()

    resumed = train([data], run, tiny_config(steps=6, checkpoint_every=2, eval_every=100), progress=False)
    err = capsys.readouterr().err
    assert (f"finished the save that was interrupted (step {expected})" if expected == 4 else "restored") in err
    assert f"(step {expected})" in err
    assert _step(run / "checkpoint") == 6
    history = json.loads((run / "checkpoint" / "config.json").read_text())["train_changes"]
    assert history[-1] == {"step": expected, "changes": {"steps": [expected, 6]}}  # resumed from there
    assert not (run / ".checkpoint.old").exists() and not (run / ".checkpoint.tmp").exists()
    straight = train(
        [data], tmp_path / "straight", tiny_config(steps=6, checkpoint_every=2, eval_every=100), progress=False
    )
    _same_weights(straight, resumed)


def test_resume_refuses_settings_that_cannot_change_and_records_those_that_do(data, tmp_path):
    run = tmp_path / "run"
    train([data], run, tiny_config(steps=2), progress=False)
    before = _snapshot(run / "checkpoint")
    with pytest.raises(RunFolderError, match=r"different preset \(saved 'debug', now 'small'\), batch_size"):
        train([data], run, tiny_config(steps=4, preset="small", batch_size=4), progress=False)
    assert _snapshot(run / "checkpoint") == before

    train([data], run, tiny_config(steps=3, lr=1e-4), progress=False)
    saved = json.loads((run / "checkpoint" / "config.json").read_text())
    assert saved["train"]["lr"] == 1e-4 and saved["train"]["steps"] == 3
    assert saved["optimizer"]["param_groups"][0]["lr"] == 1e-4  # applied, not only recorded
    assert saved["train_changes"] == [{"step": 2, "changes": {"lr": [6e-4, 1e-4], "steps": [2, 3]}}]
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 1e-4


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    train([data], run, tiny_config(steps=2), progress=False)
    before = _snapshot(run / "checkpoint")
    with pytest.raises(TrainingDivergedError, match=r"diverged at step \d+.*lr 1e\+06.*step 2.*lower lr"):
        train([data], run, tiny_config(steps=30, lr=1e6, checkpoint_every=100), progress=False)
    assert _snapshot(run / "checkpoint") == before
    model, _ = load_model(run)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": 0}, "steps must be a whole number of at least 1, got 0"),
        ({"steps": -5}, "steps must be"),
        ({"checkpoint_every": 0}, "checkpoint_every must be"),
        ({"minutes": 0.0}, "minutes must be a positive number"),
    ],
)
def test_a_run_that_would_not_train_is_refused_before_touching_the_folder(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(["nowhere"], tmp_path / "run", tiny_config(**changes), progress=False)
    assert not (tmp_path / "run").exists()


def test_a_full_disk_stops_training_with_a_clear_error_and_keeps_the_checkpoint(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train([data], run, tiny_config(steps=2), progress=False)
    before = _snapshot(run / "checkpoint")

    real = checkpoint._write_file

    def full_in(where):
        def write(path, data):
            if where in str(path):
                raise OSError(28, "No space left on device", str(path))
            return real(path, data)

        return write

    monkeypatch.setattr(checkpoint, "_write_file", full_in(".checkpoint.tmp"))
    with pytest.raises(CheckpointError, match=r"could not save checkpoint .*: No space left on device .*is kept"):
        train([data], run, tiny_config(steps=4), progress=False)
    assert _snapshot(run / "checkpoint") == before and not (run / ".checkpoint.tmp").exists()
    monkeypatch.setattr(checkpoint, "_write_file", full_in(str(run)))
    with pytest.raises(RunFolderError, match=r"cannot write .*config.json: No space left on device"):
        train([data], run, tiny_config(steps=4), progress=False)
    assert _snapshot(run / "checkpoint") == before


def test_the_cli_says_what_to_do_with_a_folder_that_is_not_a_run(data, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text("{}")
    argv = ["train", "--data", str(data), "--out", str(out), "--preset", "debug", "--steps", "1", "--device", "cpu"]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("wmgym train: error: --out") and "not a wmgym run folder" in err
    assert (out / "config.json").read_text() == "{}" and [p.name for p in out.iterdir()] == ["config.json"]
