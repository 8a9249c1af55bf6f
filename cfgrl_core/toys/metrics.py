"""Distances between two sets of samples, for 'how far are guided samples from the exact tilt'.

sliced_wasserstein: average over random unit directions of the 1-D Wasserstein-2 distance between the
projected samples (computed from sorted projections / quantiles), then a square root: SW_2.
mmd: squared maximum mean discrepancy with a Gaussian kernel (unbiased U-statistic).
Both are in the units of the samples; compare against the same statistic between two independent exact
samples of the same size (the 'noise floor') before reading anything into a small value.
"""

from __future__ import annotations

import numpy as np


def _directions(rng: np.random.Generator, num: int, dim: int) -> np.ndarray:
    d = rng.normal(size=(num, dim))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(
    x: np.ndarray, y: np.ndarray, *, num_projections: int = 256, seed: int = 0, num_quantiles: int = 512
) -> float:
    """SW_2(x, y) for x: [N, D], y: [M, D] (N and M may differ: quantiles are compared)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"samples must be [N, D] and [M, D] with the same D, got {x.shape} and {y.shape}")
    dirs = _directions(np.random.default_rng(seed), num_projections, x.shape[1])
    qs = (np.arange(num_quantiles) + 0.5) / num_quantiles
    px = np.quantile(x @ dirs.T, qs, axis=0)
    py = np.quantile(y @ dirs.T, qs, axis=0)
    return float(np.sqrt(np.mean((px - py) ** 2)))


def mmd(x: np.ndarray, y: np.ndarray, *, bandwidth: float = 0.5, max_points: int = 2000, seed: int = 0) -> float:
    """Unbiased squared MMD with k(a, b) = exp(-|a - b|^2 / (2 bandwidth^2)); subsamples to max_points."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    if len(y) > max_points:
        y = y[rng.choice(len(y), max_points, replace=False)]

    def k(a, b):
        d2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(d2, 0.0) / (2 * bandwidth**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    )
