"""benchmarks/predictability.py: MuJoCo against a slightly heavier MuJoCo, by the calibration's rule."""

from wmgym.calibrate import CalibrationConfig


def test_the_same_physics_is_trusted_every_step_and_heavier_physics_drifts(benchmark_script):
    cfg = CalibrationConfig(state_episodes=4, horizon=8, context=2)
    out = benchmark_script("predictability").horizons("reacher", [1.0, 3.0], cfg, policy=None)
    same, heavy = out["1"]["fingertip - target"], out["3"]["fingertip - target"]
    assert same == {"horizon": 8, "median_h50": 0.0}
    assert heavy["median_h50"] > 0.0 and heavy["horizon"] <= 8
