"""Counter-based random numbers: each env of a batch gets its own reproducible stream, drawn for the
whole batch at once (no per-env Python loop, no per-env generator object).

``uniform(seeds, counters, n)`` is a pure function of (seed, counter, element): a vector env's env
``i`` draws exactly what a single env with the same seed draws.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic is defined for unsigned)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform(seeds: np.ndarray, counters: np.ndarray, n: int) -> np.ndarray:
    """(N, n) float64 uniforms in (0, 1), a function of each row's (seed, counter) and the column."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    counters = np.asarray(counters, dtype=np.uint64)
    row = splitmix64(splitmix64(seeds) ^ counters)
    col = splitmix64(np.arange(n, dtype=np.uint64) ^ np.uint64(0xD1B54A32D192ED03))
    bits = splitmix64(row[:, None] ^ col[None, :]) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) / float(1 << 53)
