"""The statistics every notebook reports, the one rule that calls a difference a difference, and how they print.

Conventions (the same in every notebook, its Summary and the README):
    a table entry      mean ± std over seeds, the sample std (ddof = 1); NaN with a single seed
    a comparison       the paired difference over seeds (the same seed under both arms: common random numbers),
                       mean ± its standard error std(ddof = 1) / sqrt(n)
    the verdict rule   `beyond_noise`: a difference counts only when |mean| > NOISE_SES standard errors
    selection          `choose_by_validation`: per seed, the value with the best validation score, ties to the
                       smallest value; never the final evaluation

    mean_std(per_seed)                     -> (mean, std)
    mean_std_present(per_seed)             -> (mean, std) over the seeds that have a value (NaN: none)
    mean_se(differences)                   -> (mean, SE), along `axis`
    mean_difference(a, b, paired=...)      -> (mean(b) - mean(a), SE)
    beyond_noise(mean, se)                 -> bool
    verdict(mean, se, "beyond twice its SE") -> that text, or "within the noise"
    pm(mean, std, ".1f")                   -> "12.5 ± 3.1"
    mlp_name((256, 256, 256))              -> "3×256"
"""

from __future__ import annotations

import numpy as np

NOISE_SES = 2.0  # a paired difference beyond this many standard errors is called a difference


def mean_std(values) -> tuple[float, float]:
    """(mean, std) of per-seed values [S], the std being the sample std over seeds (ddof = 1); with a single seed
    the std is undefined and reported as NaN (no warning)."""
    values = np.asarray(values, float)
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else float("nan"))


def mean_std_present(values) -> tuple[float, float]:
    """`mean_std` over the seeds that have a value (NaN marks a seed without one, e.g. every window diverged): the
    mean NaN when none has one, the std NaN with fewer than two."""
    v = np.asarray(values, float)
    return float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else np.nan


def mean_se(differences, axis=None):
    """(mean, standard error) of per-seed differences along `axis` (all of them by default): std(ddof = 1) /
    sqrt(n), NaN for a single seed. Floats for a vector; arrays along the other axes otherwise."""
    d = np.asarray(differences)
    n = d.size if axis is None else d.shape[axis]
    mean = d.mean(axis=axis)
    se = d.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.full_like(mean, np.nan, dtype=float)
    return (float(mean), float(se)) if np.ndim(mean) == 0 else (mean, se)


def mean_difference(a, b, *, paired: bool) -> tuple[float, float]:
    """mean(b) - mean(a) over seeds and its standard error: std(b - a, ddof = 1) / sqrt(n) when the seeds are paired
    (the same trained seeds under both), sqrt(var(a) + var(b)) / sqrt(n) when they are independent."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) < 2:
        return float(b.mean() - a.mean()), float("nan")
    se = (np.std(b - a, ddof=1) if paired else np.hypot(np.std(a, ddof=1), np.std(b, ddof=1))) / np.sqrt(len(a))
    return float(b.mean() - a.mean()), float(se)


def beyond_noise(mean, se) -> bool:
    """THE verdict rule: a paired difference is a difference when |mean| exceeds NOISE_SES standard errors."""
    return bool(abs(mean) > NOISE_SES * se)


def verdict(mean, se, beyond: str = "beyond twice its standard error", within: str = "within the noise") -> str:
    """`beyond` when `beyond_noise(mean, se)`, else `within`."""
    return beyond if beyond_noise(mean, se) else within


def pm(mean, std, fmt: str = ".1f") -> str:
    """'12.5 ± 3.1'; a std that is not a number (one seed) shows as '–'."""
    std = float(std)
    return f"{float(mean):{fmt}} ± " + (f"{std:{fmt}}" if std == std else "–")


def choose_by_validation(val_success, values) -> np.ndarray:
    """Per seed, the value with the highest mean validation success; ties go to the smallest such value.

    val_success [S, K, V] (0/1, K validation episodes or goals) -> chosen values [S] (float)."""
    rates = np.asarray(val_success, float).mean(axis=1)  # [S, V]
    return np.asarray(values, float)[np.argmax(rates, axis=1)]  # argmax returns the first (smallest) maximum


def mlp_name(widths) -> str:
    """(256, 256, 256) -> '3×256'; unequal widths joined by ×."""
    widths = tuple(widths)
    return f"{len(widths)}×{widths[0]}" if len(set(widths)) == 1 else "×".join(map(str, widths))
