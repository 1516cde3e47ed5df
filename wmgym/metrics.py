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


def ssim(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Structural similarity of uint8 images (..., H, W, 3), per image, in [-1, 1] (1: identical).

    scikit-image's ``structural_similarity`` (Wang et al. 2004; 7x7 uniform window, colour
    channels averaged), the implementation most papers' numbers come from.
    """
    from skimage.metrics import structural_similarity

    lead = pred.shape[:-3]
    p = pred.reshape(-1, *pred.shape[-3:])
    t = true.reshape(-1, *true.shape[-3:])
    out = [structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(p, t, strict=True)]
    return np.asarray(out, np.float64).reshape(lead)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D samples (NaN pairs dropped; NaN if either is constant)."""
    from scipy.stats import spearmanr

    x, y = _finite_pairs(x, y)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-D samples (NaN pairs dropped; NaN if either is constant)."""
    x, y = _finite_pairs(x, y)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _finite_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.ravel(np.asarray(x, np.float64)), np.ravel(np.asarray(y, np.float64))
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def precision_recall(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Precision and recall of boolean predictions (NaN where undefined: nothing predicted / no positives)."""
    pred, true = np.asarray(pred, bool).ravel(), np.asarray(true, bool).ravel()
    tp = float(np.sum(pred & true))
    precision = tp / pred.sum() if pred.sum() else float("nan")
    recall = tp / true.sum() if true.sum() else float("nan")
    return precision, recall


def interval_coverage(
    uncertainty: np.ndarray, error: np.ndarray, level: float = 0.9, bins: int = 5, seed: int = 0
) -> dict:
    """How well uncertainty predicts an error interval, on held-out pairs.

    Half the (uncertainty, error) pairs fit the ``level`` quantile of the error in each of ``bins``
    uncertainty quantile bins; on the other half, ``coverage`` is the fraction of errors under the
    bound their uncertainty predicts (``level`` if calibrated), ``width_ratio`` the spread of the
    predicted bounds (largest over smallest: 1 when the uncertainty says nothing about the error,
    every bin then predicting the same bound).
    """
    u, e = _finite_pairs(uncertainty, error)
    if len(u) < 4 * bins:
        return {"level": level, "coverage": float("nan"), "width_ratio": float("nan"), "bounds": []}
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(u))
    fit, test = idx[: len(u) // 2], idx[len(u) // 2 :]
    edges = np.quantile(u[fit], np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, u)
    bounds = np.array(
        [np.quantile(e[fit][which[fit] == b], level) if np.any(which[fit] == b) else np.nan for b in range(bins)]
    )
    bounds = np.where(np.isnan(bounds), np.quantile(e[fit], level), bounds)
    covered = e[test] <= bounds[which[test]]
    lo = max(bounds.min(), 1e-12)
    return {
        "level": level,
        "coverage": float(covered.mean()),
        "width_ratio": float(bounds.max() / lo),
        "bounds": [float(b) for b in bounds],
    }


def bootstrap_ci(
    statistic, samples: list[np.ndarray], n: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*resampled)``: each array in ``samples`` is
    resampled (with replacement, along its first axis) independently, ``n`` times."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        values.append(statistic(*[s[rng.integers(0, len(s), len(s))] for s in samples]))
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def trust_horizon(passes: np.ndarray) -> int:
    """The largest h such that every horizon 1..h passes (``passes`` (H,) bool, index 0 = horizon 1)."""
    passes = np.asarray(passes, bool)
    fails = np.flatnonzero(~passes)
    return int(fails[0]) if len(fails) else len(passes)


def limiting_criterion(horizons: dict[str, int], of: int) -> str | None:
    """The criterion whose trust horizon is shortest, or None where every one held all ``of`` steps
    measured: then nothing limited the model within them, and naming one would say it did."""
    if not horizons or min(horizons.values()) >= of:
        return None
    return min(horizons, key=horizons.__getitem__)


def describe_limit(limited_by: str | None) -> str:
    """How a card names what bounded its trust horizon (`limiting_criterion`'s answer)."""
    return f"limited by {limited_by}" if limited_by else "every criterion held them all"


def mmrv(real: np.ndarray, sim: np.ndarray) -> float:
    """Mean maximum rank violation of a simulator's scores against real ones (Li et al. 2024, SIMPLER):
    for each policy i, the largest real-score gap |real_i - real_j| over the policies j that the
    simulator orders the other way round from reality; averaged over i. 0: the simulator ranks every
    pair as reality does; in the scores' own units (NaN pairs dropped; NaN for fewer than 2 policies)."""
    real, sim = _finite_pairs(real, sim)
    if len(real) < 2:
        return float("nan")
    violated = (sim[:, None] < sim[None, :]) != (real[:, None] < real[None, :])
    gap = np.abs(real[:, None] - real[None, :])
    return float((gap * violated).max(1).mean())
