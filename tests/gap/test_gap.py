"""`wmgym gap` end to end on debug settings: trains the missing policies, adapts, writes its report."""

import json

import numpy as np
import pytest

from wmgym.cli import main as cli
from wmgym.gap import GapConfig, gap
from wmgym.gap.matrix import Scale, ranking

TINY = GapConfig(
    perturbations=("strong-motors",),
    episodes=2,
    train=True,
    ppo_steps=64,
    ppo_envs=2,
    adapt_episodes=2,
    adapt_minutes=0.002,
    calibrate_adapted=False,
    bootstrap=20,
)


@pytest.fixture(scope="module")
def report(dream_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("gap") / "out"
    return out, gap(dream_checkpoint, out, TINY, progress=False)


def test_gap_writes_the_matrix_rankings_and_report(report):
    out, r = report
    assert json.loads((out / "gap.json").read_text())["status"] == "done"
    assert r["worlds"] == ["mujoco", "mujoco:strong-motors", "dream", "dream:strong-motors"]
    rows = ["random", "zero", "mujoco", "dream", "adapted:strong-motors", "oracle:strong-motors"]
    assert list(r["returns"]) == rows and r["missing"] == []
    cell = r["returns"]["oracle:strong-motors"]["mujoco:strong-motors"]
    assert len(cell["episodes"]) == 2 and cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1]
    pairs = {(k["dream"], k["mujoco"]) for k in r["ranking"]}
    assert ("dream:strong-motors", "mujoco:strong-motors") in pairs and len(pairs) == 4
    assert r["adaptation"]["strong-motors"]["episodes_used"] == 2
    assert (out / "heatmap.png").stat().st_size > 1000
    text = (out / "report.md").read_text()
    assert "| `oracle:strong-motors` |" in text and "MMRV" in text


def test_a_rerun_reuses_what_it_trained(report, dream_checkpoint):
    out, first = report
    zips = {p: (out / "policies" / p).stat().st_mtime for p in ("dream.zip", "mujoco.zip")}
    again = gap(dream_checkpoint, out, TINY, progress=False)
    assert {p: (out / "policies" / p).stat().st_mtime for p in zips} == zips
    assert again["policies"] == first["policies"]


def test_gap_refuses_a_folder_it_did_not_write(dream_checkpoint, tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(FileExistsError, match="not an earlier `wmgym gap` folder"):
        gap(dream_checkpoint, tmp_path, TINY, progress=False)
    assert (tmp_path / "notes.md").read_text() == "mine"
    with pytest.raises(ValueError, match="expected NAME=PATH"):
        GapConfig(policies=("runs/sac.zip",))


def test_given_policies_are_compared_without_training(report, dream_checkpoint, tmp_path):
    out, _ = report
    mine = f"mine={out / 'policies' / 'mujoco.zip'}"
    cfg = GapConfig(perturbations=("latency-2",), policies=(mine,), episodes=2, bootstrap=20)
    r = gap(dream_checkpoint, tmp_path / "g", cfg, progress=False)
    assert list(r["returns"]) == ["random", "zero", "mine"]
    assert "dream" in r["missing"] and "dream:latency-2" in r["missing"]


def test_ranking_metrics_follow_simpler():
    real = [np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([2.0, 2.0])]
    same = ranking(real, [r * 3 for r in real], Scale(0.0, 2.0, ""), 20)
    assert same["pearson"] == pytest.approx(1.0) and same["mmrv"] == 0.0
    swapped = ranking(real, [real[0], real[2], real[1]], Scale(0.0, 2.0, ""), 20)
    assert swapped["mmrv"] == pytest.approx((0 + 0.5 + 0.5) / 3)  # 1 and 2 swapped: 0.5 normalized apart


def test_the_cli_lists_perturbations_and_runs_gap(report, dream_checkpoint, tmp_path, capsys):
    assert cli(["perturbations", "--task", "reacher"]) == 0
    listed = capsys.readouterr().out
    assert "strong-motors" in listed and "wmgym/Reacher-strong-motors-truth-v0" in listed
    assert cli(["perturbations", "--task", "nope"]) == 2
    out, _ = report
    args = ["gap", "--model", str(dream_checkpoint), "--out", str(tmp_path / "g"), "--perturbations", "strong-motors"]
    args += ["--episodes", "2", "--bootstrap", "20", "--policies", f"mujoco={out / 'policies' / 'mujoco.zip'}"]
    assert cli(args) == 0
    assert "report:" in capsys.readouterr().out
