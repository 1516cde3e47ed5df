"""benchmarks/trust_spread.py: the same model calibrated with several truth seeds, the trust horizon's spread."""

from wmgym.calibrate.run import CalibrationConfig


def test_each_seed_is_its_own_calibration_and_the_spread_is_theirs(benchmark_script, dream_checkpoint, tmp_path):
    ts = benchmark_script("trust_spread")
    cfg = CalibrationConfig(episodes=2, state_episodes=2, horizon=5, context=2, policy_episodes=0)
    args = ts.Args(models=(str(dream_checkpoint),), seeds=(1, 2), pairs=(2,), work=tmp_path / "w", calibration=cfg)
    result = ts.run(args)
    (row,) = result["rows"]
    assert [r["seed"] for r in row["runs"]] == [1, 2] and row["episodes"] == 2 and row["of"] == 5
    horizons = [r["trust_horizon"] for r in row["runs"]]
    assert row["spread"] == ts.spread(horizons) and 0 <= min(horizons) <= max(horizons) <= 5
    assert len(list((tmp_path / "w").glob("*/card.json"))) == 2  # one calibration per seed, none overwritten
    ts.write_md(tmp_path / "t.md", result)
    assert "| seed 1 | seed 2 |" in (tmp_path / "t.md").read_text()


def test_spread_is_min_median_max_and_range(benchmark_script):
    ts = benchmark_script("trust_spread")
    assert ts.spread([49, 41, 47, 46]) == {"min": 41, "median": 46.5, "max": 49, "range": 8}
