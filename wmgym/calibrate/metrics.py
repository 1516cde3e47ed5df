"""Prediction-quality metrics on numpy arrays (no MuJoCo, no torch)."""

from __future__ import annotations

import numpy as np

MAX_PSNR = 100.0
"""PSNR of identical images (infinite) is reported as this value, so averages stay finite."""


def psnr(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Peak signal-to-noise ratio in dB of uint8 images (..., H, W, 3), per image.

    With ``mask`` (..., H, W) bool, only the masked pixels count (an image with no masked pixel
    gets NaN). Identical images score `MAX_PSNR`.
    """
    err = (pred.astype(np.float64) - true.astype(np.float64)) ** 2
    if mask is None:
        mse = err.mean(axis=(-3, -2, -1))
    else:
        m = mask[..., None].astype(np.float64)
        count = m.sum(axis=(-3, -2, -1)) * 3
        with np.errstate(invalid="ignore", divide="ignore"):
            mse = (err * m).sum(axis=(-3, -2, -1)) / count
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 10 * np.log10(255.0**2 / mse)
    return np.where(mse == 0, MAX_PSNR, value)
