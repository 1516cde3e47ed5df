import numpy as np

from wmgym.calibrate import MAX_PSNR, psnr


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
