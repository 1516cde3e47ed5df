"""benchmarks/pixel_ceiling.py: how well a renderer blind to the torso's x can draw the robot."""

import numpy as np


def test_moving_the_unobserved_x_scrolls_the_floor_but_keeps_the_robot_in_view(benchmark_script):
    r = benchmark_script("pixel_ceiling").ceiling("half_cheetah", frames=3)
    assert r["frames"] == 3 and 0.0 < r["mask_fraction"] < 0.2
    # the robot stays where the tracking camera puts it (its pixels still mostly match) ...
    assert 12.0 < r["x_blind_psnr_mask"] < 60.0
    # ... while the floor, most of the frame, does not; the blend of phases beats one guess
    assert r["x_blind_psnr_full_frame"] < 16.0
    assert r["x_blind_mean_psnr_full_frame"] > r["x_blind_psnr_full_frame"]
    assert r["tolerance_db"] == 20.0 and np.isfinite(r["x_blind_psnr_interior"])
