import numpy as np
import pytest

from wmgym.metrics import MAX_PSNR, psnr


def test_identical_images_score_the_cap():
    img = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.all(psnr(img, img) == MAX_PSNR)


def test_known_error_gives_the_expected_value():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 16, np.uint8)  # MSE 256 -> 10 log10(255^2 / 256)
    np.testing.assert_allclose(psnr(a, b), 10 * np.log10(255**2 / 256))


def test_mask_counts_only_masked_pixels():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    np.testing.assert_allclose(psnr(a, b, mask), 0.0)  # the one masked pixel is fully wrong
    assert psnr(a, b, ~mask) == MAX_PSNR
    assert np.isnan(psnr(a, b, np.zeros((4, 4), bool)))


def test_ssim_of_identical_and_shifted_frames():
    from wmgym.metrics import ssim

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(ssim(img, img), 1.0)
    shifted = np.roll(img, 3, axis=2)
    assert np.all(ssim(shifted, img) < 0.2)  # noise shifted by 3 px shares no structure
    assert ssim(img, img).shape == (2,)


def test_psnr_of_a_frame_shifted_by_one_pixel():
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = 255
    shifted = np.roll(img, 1, axis=1)  # two columns of 8 differ fully: MSE = 255^2 * 16 / 64
    np.testing.assert_allclose(psnr(shifted, img), 10 * np.log10(4.0))


def test_correlations_and_precision_recall():
    from wmgym.metrics import pearson, precision_recall, spearman

    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    np.testing.assert_allclose(pearson(x, 2 * x + 1), 1.0)
    assert np.isnan(spearman(x, np.ones(10)))  # a constant says nothing
    p, r = precision_recall(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert (p, r) == (0.5, 0.5)
    assert np.isnan(precision_recall(np.zeros(3, bool), np.ones(3, bool))[0])


def test_interval_coverage_tells_informative_from_uninformative_uncertainty():
    from wmgym.metrics import interval_coverage

    rng = np.random.default_rng(0)
    unc = rng.uniform(0.1, 2, 4000)
    err = np.abs(rng.normal(0, unc))  # error scales with uncertainty
    good = interval_coverage(unc, err)
    blind = interval_coverage(rng.uniform(size=4000), err)
    assert abs(good["coverage"] - 0.9) < 0.03 and abs(blind["coverage"] - 0.9) < 0.03
    assert good["width_ratio"] > 5 and blind["width_ratio"] < 1.5


def test_trust_horizon_stops_at_the_first_failure():
    from wmgym.metrics import trust_horizon

    assert trust_horizon(np.array([True, True, False, True])) == 2
    assert trust_horizon(np.array([False, True])) == 0
    assert trust_horizon(np.ones(5, bool)) == 5


def test_nothing_limits_a_trust_horizon_that_held_every_step_measured():
    from wmgym.metrics import limiting_criterion

    assert limiting_criterion({"angle": 12, "pixels": 7}, of=50) == "pixels"
    assert limiting_criterion({"angle": 50, "pixels": 50}, of=50) is None
    assert limiting_criterion({}, of=50) is None


def test_bootstrap_interval_of_a_mean_has_the_textbook_width():
    from wmgym.metrics import bootstrap_ci

    x = np.random.default_rng(0).normal(0.0, 1.0, 400)
    lo, hi = bootstrap_ci(np.mean, [x], n=2000)
    assert lo < x.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.15)
    assert bootstrap_ci(np.mean, [x], n=2000) == (lo, hi)  # seeded


def test_bootstrap_resamples_each_sample_on_its_own_and_drops_undefined_values():
    from wmgym.metrics import bootstrap_ci

    a, b = np.zeros(50), np.ones(50)
    assert bootstrap_ci(lambda x, y: y.mean() - x.mean(), [a, b], n=100) == (1.0, 1.0)
    lo, hi = bootstrap_ci(lambda x: np.nan, [a], n=10)
    assert np.isnan(lo) and np.isnan(hi)
