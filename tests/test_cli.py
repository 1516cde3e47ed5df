"""The ``wmgym`` command line: flags derived from the library, their help, errors, startup cost."""

import dataclasses
import functools
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wmgym.calibrate import CalibrationConfig
from wmgym.cli import COMMANDS, main
from wmgym.train import TrainConfig

# Flags that README.md, docs/, envs/*/README.md, benchmarks/ and .ci/run use: they must keep working.
DOCUMENTED_FLAGS = {
    "collect": ["--task", "--episodes", "--out", "--policy", "--seed", "--workers", "--noise", "--no-pixels"],
    "train": [
        *["--data", "--out", "--preset", "--steps", "--minutes", "--batch-size", "--seq-len", "--lr", "--seed"],
        *["--device", "--precision", "--compile", "--eval-every", "--checkpoint-every"],
        *["--init-from", "--train-only", "--cnn-depth"],
    ],
    "video": ["--data", "--episode", "--out"],
    "calibrate": [
        *["--model", "--out", "--episodes", "--state-episodes", "--horizon", "--context", "--policies"],
        *["--policy-episodes", "--policy-steps", "--data", "--task", "--seed", "--device", "--no-videos"],
    ],
    "improve": ["--model", "--out", "--rounds", "--minutes-per-round", "--episodes-per-round", "--with"],
    "demo": ["--task", "--ppo-steps", "--n-envs", "--eval-episodes", "--seed", "--out"],
    "bench": [
        *["--suite", "--out", "--tasks", "--agents", "--seeds", "--budget", "--eval-episodes", "--curve-points"],
        *["--curve-episodes", "--reps", "--worlds", "--models", "--workers", "--ray"],
    ],
}


def help_of(command: str, capsys, monkeypatch) -> str:
    """``wmgym <command> --help``, on one line: box drawing and wrapping removed."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", capsys.readouterr().out).split())


def entry(help_text: str, flag: str) -> str:
    """What the help says about ``flag``, up to the next flag."""
    found = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])(?:(?! --[a-z]).)*", help_text)
    assert found, f"{flag} is not in the help"
    return found.group(0)


def kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1]
    )


def test_top_level_help_lists_the_commands_without_importing_torch_or_mujoco():
    code = (
        "import sys\nfrom wmgym.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code\nprint('loaded:', [m for m in ('torch', 'mujoco') if m in sys.modules])"
    )
    done = run_cli("-c", code)
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout
    for name in COMMANDS:
        assert name in done.stdout


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "improve" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(DOCUMENTED_FLAGS))
def test_documented_flags_keep_working(command, capsys, monkeypatch):
    text = help_of(command, capsys, monkeypatch)
    for flag in DOCUMENTED_FLAGS[command]:
        entry(text, flag)


def test_train_help_shows_every_config_field_with_its_default_and_docstring(capsys, monkeypatch):
    text = help_of("train", capsys, monkeypatch)
    for field in dataclasses.fields(TrainConfig):
        entry(text, kebab(field.name))  # a field added to TrainConfig is a flag without touching the CLI
    batch = entry(text, "--batch-size")
    assert f"(default: {TrainConfig().batch_size})" in batch
    assert "Sequences per batch" in batch


def test_calibrate_help_shows_the_config_and_no_improve_flags(capsys, monkeypatch):
    text = help_of("calibrate", capsys, monkeypatch)
    for field in dataclasses.fields(CalibrationConfig):
        entry(text, kebab(field.name))
    assert f"(default: {CalibrationConfig().state_episodes})" in entry(text, "--state-episodes")
    assert "--improve" not in text


def test_demo_defaults_come_from_run_demo(capsys, monkeypatch):
    from wmgym.demo import run_demo

    text = help_of("demo", capsys, monkeypatch)
    for name, param in inspect.signature(run_demo).parameters.items():
        assert f"(default: {param.default})" in entry(text, kebab(name))


@pytest.mark.parametrize("command, flag", [("collect", "--policy"), ("calibrate", None), ("improve", None)])
def test_policy_flags_say_that_loading_a_zip_runs_code(command, flag, capsys, monkeypatch):
    text = help_of(command, capsys, monkeypatch)
    assert "runs code" in (entry(text, flag) if flag else text)


def test_a_bad_value_prints_one_error_line_and_exits_2(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main([*argv, "--batch-size", "0"]) == 2  # TrainConfig's own check
    assert capsys.readouterr().err.startswith("wmgym train: error: batch_size must be")
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("wmgym train: error: ")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "wmgym train: error: say how long to train: --steps N or --minutes M\n"


def test_a_value_of_the_wrong_type_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path), "--batch-size", "many"])
    assert exit_.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


def test_train_flags_reach_the_config(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("wmgym.train.train", lambda data, out, config: calls.append((data, out, config)))
    argv = ["train", "--data", "a", "--data", "b", "--out", str(tmp_path), "--steps", "5", "--batch-size", "4"]
    assert main(argv) == 0
    assert calls == [([Path("a"), Path("b")], tmp_path, dataclasses.replace(TrainConfig(), steps=5, batch_size=4))]


CARD = {
    "trust_horizon": {"steps": 2, "of": 50, "limited_by": "pole angle", "criteria": {}},
    "uncertainty": {"spearman_pooled": 0.5, "spearman_within_horizon": 0.25},
}


def test_improve_is_its_own_command(tmp_path, monkeypatch, capsys):
    import wmgym.calibrate

    calls = []

    @functools.wraps(wmgym.calibrate.improve)
    def improve(*args, **kwargs):
        calls.append((args, kwargs))
        return CARD

    defaults = {k: p.default for k, p in inspect.signature(improve).parameters.items()}
    monkeypatch.setattr(wmgym.calibrate, "improve", improve)
    argv = ["improve", "--model", "reacher", "--out", str(tmp_path), "--rounds", "2", "--minutes-per-round", "0.5"]
    assert main([*argv, "--with", "d1", "d2", "--episodes", "4"]) == 0
    (args, kwargs), *rest = calls
    assert not rest
    assert args == ("reacher", tmp_path, 2, dataclasses.replace(CalibrationConfig(), episodes=4))
    assert kwargs == {
        "minutes": 0.5,
        "episodes": defaults["episodes"],
        "lr": defaults["lr"],
        "train_also": ("d1", "d2"),
    }
    assert "trust horizon: 2 of 50 steps" in capsys.readouterr().out


def test_calibrate_points_improve_flags_to_the_improve_command(tmp_path, capsys):
    assert main(["calibrate", "--model", "reacher", "--out", str(tmp_path), "--improve", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wmgym calibrate: error: ") and "wmgym improve" in err


def test_collect_refuses_more_workers_than_cores(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["collect", "--task", "reacher", "--episodes", "1", "--out", str(out), "--workers", "10000"]) == 2
    assert "CPU cores" in capsys.readouterr().err
    assert not out.exists()


def test_tasks_runs_in_a_fresh_process():
    done = run_cli("-m", "wmgym.cli", "tasks")
    assert done.returncode == 0, done.stderr
    assert "wmgym/Reacher-truth-v0" in done.stdout


def test_zoo_says_the_trust_horizon_is_out_of_the_calibrated_steps(capsys):
    from wmgym.zoo import ZOO

    th = json.loads((ZOO / "inverted_pendulum" / "calibration.json").read_text())["trust_horizon"]
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert f"trusted for {th['steps']} of {th['of']} calibrated steps (episodes last 1000)" in out
    assert "trust_horizon=" not in out
    per = ", ".join(f"{name} {c['horizon']}" for name, c in th["criteria"].items())
    assert (f"({per})" in out) == (len({c["horizon"] for c in th["criteria"].values()}) > 1)


def test_video_help_shows_the_shared_frame_rate(capsys, monkeypatch):
    from wmgym.video import FPS

    text = help_of("video", capsys, monkeypatch)
    assert re.search(rf"--fps INT frames per second [^│]*\(default: {FPS}\)", text)
