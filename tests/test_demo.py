"""`wmgym demo` on tiny settings: what it prints and records explains the result."""

import contextlib
import io
import json

import imageio.v3 as iio
import pytest

from wmgym.demo import run_demo
from wmgym.tasks import get_task
from wmgym.zoo import ZOO


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        record = run_demo("reacher", out, ppo_steps=256, n_envs=4, eval_episodes=2, seed=3)
    return out, record, printed.getvalue()


def test_summary_holds_the_expert_reference_and_the_trust_horizon(demo):
    out, record, printed = demo
    assert json.loads((out / "demo_results.json").read_text()) == record
    ref = get_task("reacher").reference
    assert record["reference"]["expert"] == ref.expert and record["reference"]["random"] == ref.random
    assert f"expert reference in MuJoCo: {ref.expert:.2f}" in printed
    trust = json.loads((ZOO / "reacher" / "calibration.json").read_text())["trust_horizon"]
    assert record["trust_horizon"]["steps"] == trust["steps"] and record["trust_horizon"]["of"] == trust["of"]
    assert f"trusted for {trust['steps']} of {trust['of']} calibrated steps (episodes last 50)" in printed


def test_the_seeds_printed_are_the_seeds_evaluated(demo):
    _, record, printed = demo
    assert record["eval_seeds"] == [1003, 1004]
    assert "reset seeds 1003-1004" in printed and "seeds 3-" not in printed


def test_the_video_is_labelled_and_watchable(demo):
    out, _, _ = demo
    video = out / "truth_dream_error.mp4"
    frames = iio.imread(video, index=None)
    assert iio.immeta(video)["fps"] == 10
    assert len(frames) == 46  # the last of 4 context steps, then 45 dreamt open loop
    assert frames.shape[1] > 64 * 4  # bands above (panel titles) and below (step counter)
